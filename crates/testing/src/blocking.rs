//! The blocking twin of [`Ensemble`], for tests without an async runtime: it owns one.

use std::time::Duration;

use crate::ensemble::{Ensemble, EnsembleBuilder, FixtureError};

/// An [`Ensemble`] driven from synchronous code. Owns its own runtime.
pub struct BlockingEnsemble {
    ensemble: Option<Ensemble>,
    runtime: tokio::runtime::Runtime,
}

impl BlockingEnsemble {
    /// Starts an ensemble built by `builder`.
    pub fn start(builder: EnsembleBuilder) -> Result<Self, FixtureError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let ensemble = runtime.block_on(builder.start())?;
        Ok(Self {
            ensemble: Some(ensemble),
            runtime,
        })
    }

    fn get(&self) -> &Ensemble {
        match &self.ensemble {
            Some(ensemble) => ensemble,
            None => unreachable!("the ensemble lives until drop"),
        }
    }

    fn get_mut(&mut self) -> &mut Ensemble {
        match &mut self.ensemble {
            Some(ensemble) => ensemble,
            None => unreachable!("the ensemble lives until drop"),
        }
    }

    /// See [`Ensemble::connect_string`].
    pub fn connect_string(&self) -> String {
        self.get().connect_string()
    }

    /// See [`Ensemble::leader`].
    pub fn leader(&self) -> Option<usize> {
        self.get().leader()
    }

    /// See [`Ensemble::kill`].
    pub fn kill(&mut self, index: usize) -> Result<(), FixtureError> {
        let runtime = &self.runtime;
        let ensemble = match &mut self.ensemble {
            Some(e) => e,
            None => unreachable!("the ensemble lives until drop"),
        };
        runtime.block_on(ensemble.kill(index))
    }

    /// See [`Ensemble::restart`].
    pub fn restart(&mut self, index: usize) -> Result<(), FixtureError> {
        let runtime = &self.runtime;
        let ensemble = match &mut self.ensemble {
            Some(e) => e,
            None => unreachable!("the ensemble lives until drop"),
        };
        runtime.block_on(ensemble.restart(index))
    }

    /// See [`Ensemble::partition`].
    pub fn partition(&self, a: &[usize], b: &[usize]) {
        self.get().partition(a, b);
    }

    /// See [`Ensemble::heal`].
    pub fn heal(&self) {
        self.get().heal();
    }

    /// See [`Ensemble::wait_for_leader`].
    pub fn wait_for_leader(&self, timeout: Duration) -> Result<usize, FixtureError> {
        self.runtime.block_on(self.get().wait_for_leader(timeout))
    }

    /// See [`Ensemble::expire_session`].
    pub fn expire_session(&self, session_id: i64) -> Result<(), FixtureError> {
        self.runtime.block_on(self.get().expire_session(session_id))
    }

    /// The async ensemble, for anything not mirrored here.
    pub fn ensemble(&mut self) -> &mut Ensemble {
        self.get_mut()
    }
}

impl Drop for BlockingEnsemble {
    fn drop(&mut self) {
        if let Some(ensemble) = self.ensemble.take() {
            self.runtime.block_on(ensemble.shutdown());
        }
    }
}
