//! The one adapter between a kind's own types and the walker: [`Erased<R>`] implements the object-safe
//! [`Node`] for any [`Resource`], and is the only place a kind's live state, work, aside and desired state
//! are erased (stored in the engine's maps) and recovered ([`recover`]). A value that is not the type its
//! address's kind stores is treated as absent: only this adapter stores them, always as that type.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use futures::future::BoxFuture;

use crate::aws::{Account, Clients};
use crate::config::placeholders::PlaceholderDecl;
use crate::config::Stack;
use crate::resources::{
    Address, Confirmed, Dep, Done, Found, Listed, Output, Planned, Purpose, ReadCx, Resource, World,
};

/// A value of some kind's type, as the engine's maps keep it (live states, asides, desired states).
pub type AnyValue = Arc<dyn Any + Send + Sync>;

/// A plan's work, of the planning kind's `Work` or `Teardown` type.
pub type AnyWork = Box<dyn Any + Send + Sync>;

/// Recovers a value stored by this adapter as the type its kind stores.
pub fn recover<T: 'static>(value: &AnyValue) -> Option<&T> {
    value.downcast_ref()
}

/// A resource instance as the walker sees it: the kind's methods with its types erased.
pub trait Node: Send + Sync {
    fn address(&self) -> &Address;
    fn depends_on(&self) -> Vec<Dep>;
    fn name(&self, stack: &Stack) -> String;
    fn name_field(&self) -> &str;
    fn is_iam(&self) -> bool;
    fn owned_with(&self) -> Option<&Address>;
    fn in_stack(&self, stack: &Stack) -> bool;
    fn listed(&self) -> Listed;
    fn confirm_tagged<'a>(
        &'a self,
        clients: &'a Clients,
        arn: &'a str,
    ) -> BoxFuture<'a, Result<Option<Confirmed>>>;
    fn read_after(&self, purpose: Purpose, stack: &Stack) -> Vec<Address>;
    /// The live state and the aside, erased.
    fn read<'a>(
        &'a self,
        cx: &'a ReadCx<'a>,
    ) -> BoxFuture<'a, Result<(Option<AnyValue>, Option<AnyValue>)>>;
    fn arn<'l>(&self, live: &'l AnyValue) -> Option<&'l str>;
    fn arn_in_advance(&self, stack: &Stack, account: &Account) -> Option<String>;
    fn placeholders(&self) -> &'static [PlaceholderDecl];
    fn tags<'l>(&self, live: &'l AnyValue) -> Option<&'l BTreeMap<String, String>>;
    fn last_used_in(&self, live: &AnyValue) -> Vec<(String, String)>;
    fn desired(&self, world: &World) -> Result<AnyValue>;
    fn outputs(&self, world: &World) -> Vec<Output>;
    fn plan_up(&self, world: &World) -> Result<Planned<AnyWork>>;
    fn apply<'a>(&'a self, world: &'a World<'a>, work: &'a AnyWork) -> BoxFuture<'a, Result<Done>>;
    /// Puts `tags` on its live resource (nothing when it does not exist).
    fn tag<'a>(
        &'a self,
        world: &'a World<'a>,
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<()>>;
    /// down's plan of its live resource (None: it does not exist).
    fn plan_down(&self, world: &World) -> Option<Planned<AnyWork>>;
    fn secure<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a mut AnyWork,
    ) -> BoxFuture<'a, Result<()>>;
    fn destroy<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a AnyWork,
    ) -> BoxFuture<'a, Result<Done>>;
    /// status: its live state, field by field (empty when it does not exist).
    fn state(&self, world: &World) -> BTreeMap<String, String>;
}

/// The adapter: a kind's instance, as a [`Node`].
pub struct Erased<R>(pub R);

impl<R: Resource> Erased<R> {
    pub fn node(resource: R) -> Box<dyn Node> {
        Box::new(Erased(resource))
    }

    fn live<'w>(&self, world: &'w World) -> Option<&'w R::Live> {
        world.live_of::<R>(self.0.address())
    }
}

fn erase<W: Send + Sync + 'static>(planned: Planned<W>) -> Planned<AnyWork> {
    Planned::new(planned.plan, Box::new(planned.work))
}

/// A work that is not the kind's own was not planned by it: a programming error, reported as one.
fn wrong_work(at: &Address) -> anyhow::Error {
    anyhow::anyhow!("internal error: {at} was given another kind's work")
}

impl<R: Resource> Node for Erased<R> {
    fn address(&self) -> &Address {
        self.0.address()
    }
    fn depends_on(&self) -> Vec<Dep> {
        self.0.depends_on()
    }
    fn name(&self, stack: &Stack) -> String {
        self.0.name(stack)
    }
    fn name_field(&self) -> &str {
        self.0.name_field()
    }
    fn is_iam(&self) -> bool {
        self.0.is_iam()
    }
    fn owned_with(&self) -> Option<&Address> {
        self.0.owned_with()
    }
    fn in_stack(&self, stack: &Stack) -> bool {
        self.0.in_stack(stack)
    }
    fn listed(&self) -> Listed {
        self.0.listed()
    }
    fn confirm_tagged<'a>(
        &'a self,
        clients: &'a Clients,
        arn: &'a str,
    ) -> BoxFuture<'a, Result<Option<Confirmed>>> {
        self.0.confirm_tagged(clients, arn)
    }
    fn read_after(&self, purpose: Purpose, stack: &Stack) -> Vec<Address> {
        self.0.read_after(purpose, stack)
    }
    fn read<'a>(
        &'a self,
        cx: &'a ReadCx<'a>,
    ) -> BoxFuture<'a, Result<(Option<AnyValue>, Option<AnyValue>)>> {
        Box::pin(async move {
            let Found { live, aside } = self.0.read(cx).await?;
            Ok((
                live.map(|l| Arc::new(l) as AnyValue),
                aside.map(|a| Arc::new(a) as AnyValue),
            ))
        })
    }
    fn arn<'l>(&self, live: &'l AnyValue) -> Option<&'l str> {
        self.0.arn(recover::<R::Live>(live)?)
    }
    fn arn_in_advance(&self, stack: &Stack, account: &Account) -> Option<String> {
        self.0.arn_in_advance(stack, account)
    }
    fn placeholders(&self) -> &'static [PlaceholderDecl] {
        R::PLACEHOLDERS
    }
    fn tags<'l>(&self, live: &'l AnyValue) -> Option<&'l BTreeMap<String, String>> {
        self.0.tags(recover::<R::Live>(live)?)
    }
    fn last_used_in(&self, live: &AnyValue) -> Vec<(String, String)> {
        recover::<R::Live>(live)
            .map(|l| self.0.last_used_in(l))
            .unwrap_or_default()
    }
    fn desired(&self, world: &World) -> Result<AnyValue> {
        Ok(Arc::new(self.0.desired(world)?))
    }
    fn outputs(&self, world: &World) -> Vec<Output> {
        self.0.outputs(world)
    }
    fn plan_up(&self, world: &World) -> Result<Planned<AnyWork>> {
        Ok(erase(self.0.plan_up(world)?))
    }
    fn apply<'a>(&'a self, world: &'a World<'a>, work: &'a AnyWork) -> BoxFuture<'a, Result<Done>> {
        match work.downcast_ref::<R::Work>() {
            Some(work) => self.0.apply(world, work),
            None => Box::pin(async { Err(wrong_work(self.0.address())) }),
        }
    }
    fn tag<'a>(
        &'a self,
        world: &'a World<'a>,
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<()>> {
        match self.live(world) {
            Some(live) => self.0.tag(world, live, tags),
            None => Box::pin(async { Ok(()) }),
        }
    }
    fn plan_down(&self, world: &World) -> Option<Planned<AnyWork>> {
        Some(erase(self.0.plan_down(world, self.live(world)?)))
    }
    fn secure<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a mut AnyWork,
    ) -> BoxFuture<'a, Result<()>> {
        match work.downcast_mut::<R::Teardown>() {
            Some(work) => self.0.secure(world, work),
            None => Box::pin(async { Err(wrong_work(self.0.address())) }),
        }
    }
    fn destroy<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a AnyWork,
    ) -> BoxFuture<'a, Result<Done>> {
        match work.downcast_ref::<R::Teardown>() {
            Some(work) => self.0.destroy(world, work),
            None => Box::pin(async { Err(wrong_work(self.0.address())) }),
        }
    }
    fn state(&self, world: &World) -> BTreeMap<String, String> {
        self.live(world)
            .map(|live| self.0.state(world, live))
            .unwrap_or_default()
    }
}
