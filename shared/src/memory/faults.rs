//! Faults a test injects into the in-memory fleet: failed, throttled and refused writes, deleted
//! services.

use super::MemoryFleet;

impl MemoryFleet {
    /// Makes the k-th write from now on (1-based, counting every write call) fail for good, as a
    /// crash or a refused permission would: not worth trying again in the same run.
    pub fn fail_write(&self, k: u32) {
        let mut state = self.lock();
        let at = state.writes + k;
        state.fail_writes.push(at);
    }

    /// Refuses every call of `operation` (`elasticloadbalancing:CreateTargetGroup`) with `code`,
    /// as a quota does.
    pub fn refuse(&self, operation: &str, code: &str) {
        self.lock().refused.push((operation.to_string(), code.to_string()));
    }

    /// Deletes a service, as `aws ecs delete-service --force` and its stack would.
    pub fn delete_service(&self, cluster: &str, name: &str) {
        self.lock().services.retain(|_, s| !(s.id.cluster == cluster && s.id.name == name));
    }

    /// Makes the k-th write from now on fail as throttled past every SDK retry: worth one more
    /// pass at the end of the run.
    pub fn throttle_write(&self, k: u32) {
        let mut state = self.lock();
        let at = state.writes + k;
        state.throttle_writes.push(at);
    }
}
