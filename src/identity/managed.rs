//! PLACEHOLDER in branch `lead` until the cognito branch's managed.rs is merged (that one wins).
#![allow(dead_code)]
pub struct ManagedPool {
    pub pool_id: String,
    pub client_id: String,
    pub issuer: String,
    pub region: String,
}

pub async fn managed_pool(
    _clients: &crate::aws::Clients,
    _stack: &crate::config::Stack,
) -> anyhow::Result<Option<ManagedPool>> {
    Ok(None)
}
