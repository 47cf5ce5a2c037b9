//! The one backoff every retry and poll loop uses: a policy (a ramp of first delays, then an initial delay
//! multiplied by a factor up to a cap, each scaled by a random factor within a jitter range), a limit
//! (attempts and/or a deadline), and `Tries`, the state of one loop, which says how long to pause before
//! the next try or that the limit is reached. The AWS-specific loops built on it (`aws::wait_for`, "poll
//! until this state", and `aws::retry_while`, "retry while this error class") are in `aws::waits`.

use std::time::Duration;

// tokio's clock: the real one, or the paused one of a test counting in virtual time.
use tokio::time::Instant;

/// How the pause between tries grows. `const`, so that each loop names its schedule as a constant beside it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The pauses before the second, third, ... try; after them, `initial` growing by `factor`.
    pub ramp: &'static [Duration],
    /// The first pause after the ramp.
    pub initial: Duration,
    /// Each later pause is the previous one times this (1: a steady cadence).
    pub factor: u32,
    /// No pause (before jitter) is longer than this.
    pub cap: Duration,
    /// Each pause is scaled by a factor drawn uniformly from [low, high): concurrent loops drift apart.
    /// (1.0, 1.0): no jitter.
    pub jitter: (f64, f64),
}

impl Backoff {
    /// The same pause every time, no jitter.
    pub const fn steady(every: Duration) -> Backoff {
        Backoff {
            ramp: &[],
            initial: every,
            factor: 1,
            cap: every,
            jitter: (1.0, 1.0),
        }
    }

    /// `initial`, then doubled (or times `factor`) after each try, up to `cap`; no jitter.
    pub const fn exponential(initial: Duration, factor: u32, cap: Duration) -> Backoff {
        Backoff {
            ramp: &[],
            initial,
            factor,
            cap,
            jitter: (1.0, 1.0),
        }
    }

    /// The same schedule, after `ramp`.
    pub const fn after_ramp(self, ramp: &'static [Duration]) -> Backoff {
        Backoff { ramp, ..self }
    }

    /// The same schedule, each pause scaled by a random factor from [low, high).
    pub const fn with_jitter(self, low: f64, high: f64) -> Backoff {
        Backoff {
            jitter: (low, high),
            ..self
        }
    }

    /// The pause before the next try, without jitter, when `tries` tries were made (1 after the first; 0
    /// reads as 1).
    pub fn base(&self, tries: u32) -> Duration {
        let index = usize::try_from(tries.saturating_sub(1)).unwrap_or(usize::MAX);
        if let Some(delay) = self.ramp.get(index) {
            return *delay;
        }
        let grown = u32::try_from(index - self.ramp.len()).unwrap_or(u32::MAX);
        // factor^grown, saturating long before it could overflow (the cap is reached by then).
        let mut delay = self.initial;
        for _ in 0..grown.min(64) {
            if delay >= self.cap || self.factor <= 1 {
                break;
            }
            delay = delay.saturating_mul(self.factor);
        }
        delay.min(self.cap)
    }

    /// `delay` scaled by the jitter factor for `sample`, a number from [0, 1) (clamped into [0, 1]).
    pub fn scale(&self, delay: Duration, sample: f64) -> Duration {
        let (low, high) = self.jitter;
        delay.mul_f64(low + (high - low) * sample.clamp(0.0, 1.0))
    }

    /// `delay` with jitter from the one random source.
    pub fn jittered(&self, delay: Duration) -> Duration {
        self.scale(delay, crate::random::unit())
    }

    /// The pause before the next try, jitter included, with `sample` from [0, 1) (pure: unit-tested).
    pub fn delay(&self, tries: u32, sample: f64) -> Duration {
        self.scale(self.base(tries), sample)
    }
}

/// When a loop stops trying: after `attempts` tries, or when the next try would start after `deadline`
/// (counted from the loop's start). Either or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limit {
    pub attempts: Option<u32>,
    pub deadline: Option<Duration>,
}

impl Limit {
    pub const fn attempts(n: u32) -> Limit {
        Limit {
            attempts: Some(n),
            deadline: None,
        }
    }

    pub const fn deadline(budget: Duration) -> Limit {
        Limit {
            attempts: None,
            deadline: Some(budget),
        }
    }
}

/// One retry or poll loop: counts its tries and says how long to pause before the next one.
#[derive(Debug)]
pub struct Tries {
    policy: Backoff,
    limit: Limit,
    started: Instant,
    tries: u32,
}

impl Tries {
    pub fn new(policy: Backoff, limit: Limit) -> Tries {
        Tries {
            policy,
            limit,
            started: Instant::now(),
            tries: 0,
        }
    }

    /// A try failed (or polled a state still pending): the pause before the next one, jitter included, or
    /// `None` when the limit says there is no next one (the attempts are used up, or the pause would end
    /// past the deadline).
    pub fn next(&mut self) -> Option<Duration> {
        self.next_with(crate::random::unit())
    }

    /// `next` with a given jitter sample from [0, 1).
    pub fn next_with(&mut self, sample: f64) -> Option<Duration> {
        self.tries = self.tries.saturating_add(1);
        if self.limit.attempts.is_some_and(|max| self.tries >= max) {
            return None;
        }
        let delay = self.policy.delay(self.tries, sample);
        match self.limit.deadline {
            Some(deadline) if self.started.elapsed() + delay > deadline => None,
            _ => Some(delay),
        }
    }

    /// How many tries failed so far.
    pub fn tries(&self) -> u32 {
        self.tries
    }

    /// Time since the loop started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Checks `done` at once, then after each pause of `policy` (the last pause shortened to end at the limit),
/// until it says true (then true) or `limit` has passed at a check (then false): "poll until this state"
/// for a state read without AWS (a process's exit, a file). Waits on AWS use `aws::wait_for`.
pub async fn poll_until(policy: Backoff, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    let mut tries = 0u32;
    loop {
        if done() {
            return true;
        }
        let elapsed = started.elapsed();
        if elapsed >= limit {
            return false;
        }
        tries = tries.saturating_add(1);
        tokio::time::sleep(policy.jittered(policy.base(tries)).min(limit - elapsed)).await;
    }
}

/// Sleeps `delay`, or returns `Interrupted` (naming what was abandoned) as soon as an interrupt comes.
pub async fn pause(
    delay: Duration,
    what: impl FnOnce() -> crate::interrupt::Interrupted,
) -> Result<(), crate::interrupt::Interrupted> {
    tokio::select! {
        _ = tokio::time::sleep(delay) => Ok(()),
        _ = crate::interrupt::interrupted() => Err(what()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn exponential_delays_grow_by_the_factor_up_to_the_cap() {
        let b = Backoff::exponential(MS(100), 2, MS(5000));
        assert_eq!(
            (1..=9).map(|n| b.base(n)).collect::<Vec<_>>(),
            [
                MS(100),
                MS(200),
                MS(400),
                MS(800),
                MS(1600),
                MS(3200),
                MS(5000),
                MS(5000),
                MS(5000)
            ]
        );
        assert_eq!(b.base(0), MS(100));
        assert_eq!(b.base(u32::MAX), MS(5000));
        let steady = Backoff::steady(MS(1000));
        assert!((1..50).all(|n| steady.base(n) == MS(1000)));
    }

    #[test]
    fn the_ramp_comes_first_then_the_schedule() {
        const RAMP: &[Duration] = &[Duration::from_millis(10), Duration::from_millis(20)];
        let b = Backoff::exponential(MS(100), 3, MS(1000)).after_ramp(RAMP);
        assert_eq!(
            (1..=6).map(|n| b.base(n)).collect::<Vec<_>>(),
            [MS(10), MS(20), MS(100), MS(300), MS(900), MS(1000)]
        );
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let b = Backoff::steady(MS(1000)).with_jitter(0.75, 1.25);
        assert_eq!(b.delay(1, 0.0), MS(750));
        assert_eq!(b.delay(1, 0.5), MS(1000));
        assert_eq!(b.delay(1, 1.0), MS(1250));
        assert_eq!(b.delay(1, -3.0), MS(750));
        assert_eq!(b.delay(1, 7.0), MS(1250));
        // Samples from a seeded generator: reproducible, all inside [750, 1250) ms, and not all equal.
        let mut rng = fastrand::Rng::with_seed(22);
        let delays: Vec<Duration> = (0..200).map(|_| b.delay(1, rng.f64())).collect();
        assert!(delays.iter().all(|d| (MS(750)..MS(1250)).contains(d)));
        assert!(delays.iter().any(|d| *d != delays[0]));
        let again: Vec<Duration> = {
            let mut rng = fastrand::Rng::with_seed(22);
            (0..200).map(|_| b.delay(1, rng.f64())).collect()
        };
        assert_eq!(delays, again);
        // No jitter by default.
        assert_eq!(Backoff::steady(MS(1000)).delay(1, 0.9), MS(1000));
        assert!((0..100)
            .all(|_| (MS(500)..=MS(1000)).contains(&b.with_jitter(0.5, 1.0).jittered(MS(1000)))));
    }

    #[test]
    fn attempts_end_the_loop() {
        let mut tries = Tries::new(Backoff::steady(MS(1)), Limit::attempts(3));
        assert_eq!(tries.next_with(0.5), Some(MS(1)));
        assert_eq!(tries.next_with(0.5), Some(MS(1)));
        assert_eq!(tries.next_with(0.5), None);
        assert_eq!(tries.tries(), 3);
    }

    #[test]
    fn a_deadline_ends_the_loop_before_a_pause_that_would_pass_it() {
        let policy = Backoff::exponential(MS(400), 2, MS(10_000));
        let mut tries = Tries::new(policy, Limit::deadline(MS(1000)));
        // 400 ms fits in 1 s; 800 ms (plus the time already spent, nothing here) does too; 1600 does not.
        assert_eq!(tries.next_with(0.5), Some(MS(400)));
        assert_eq!(tries.next_with(0.5), Some(MS(800)));
        assert_eq!(tries.next_with(0.5), None);
        // No limit: never ends.
        let mut forever = Tries::new(policy, Limit::default());
        assert!((0..1000).all(|_| forever.next_with(0.5).is_some()));
    }

    #[tokio::test(start_paused = true)]
    async fn poll_until_checks_on_the_schedule_until_done_or_the_limit() {
        let started = Instant::now();
        let mut checks = 0;
        let done = poll_until(Backoff::steady(MS(10)), MS(1000), || {
            checks += 1;
            checks == 5
        })
        .await;
        assert!(done);
        assert_eq!(started.elapsed(), MS(40));
        let started = Instant::now();
        let mut checks = 0;
        let done = poll_until(Backoff::steady(MS(30)), MS(100), || {
            checks += 1;
            false
        })
        .await;
        // At 0, 30, 60, 90 and, the last pause shortened, at the limit.
        assert!(!done);
        assert_eq!((checks, started.elapsed()), (5, MS(100)));
    }
}
