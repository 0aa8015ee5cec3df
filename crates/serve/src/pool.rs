//! Store connections for the handlers: stores are used from one thread at a time, so each
//! request borrows one on a blocking thread and gives it back.

use crate::Opener;
use mailtrace_store::{Store, StoreError};
use std::future::Future;
use std::sync::{Arc, Mutex};

/// Store connections at work at most: more requests wait for one (bounds memory: each has
/// its own page cache).
const MAX_BUSY: usize = 8;

/// Idle store connections, opened on demand.
pub struct Pool {
    open: Arc<Opener>,
    idle: Arc<Mutex<Vec<Box<dyn Store>>>>,
    busy: Arc<tokio::sync::Semaphore>,
}

impl Pool {
    /// A pool over stores made by `open`.
    pub fn new(open: Arc<Opener>) -> Pool {
        Pool {
            open,
            idle: Arc::default(),
            busy: Arc::new(tokio::sync::Semaphore::new(MAX_BUSY)),
        }
    }

    /// Run `f` with a store on a blocking thread, once one of the [`MAX_BUSY`] slots is free.
    /// Once started, the work goes on even if the returned future is dropped.
    ///
    /// # Errors
    /// Opening a store failed, or `f` failed.
    pub fn run<T, F>(&self, f: F) -> impl Future<Output = Result<T, StoreError>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let open = self.open.clone();
        let idle = self.idle.clone();
        let busy = self.busy.clone();
        async move {
            let permit = busy.acquire_owned().await;
            let handle = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let taken = idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let store = match taken {
                    Some(s) => s,
                    None => open()?,
                };
                let out = f(store.as_ref());
                // A store that failed is dropped rather than reused.
                if out.is_ok() {
                    let mut idle = idle.lock().unwrap_or_else(|e| e.into_inner());
                    if idle.len() < 8 {
                        idle.push(store);
                    }
                }
                out
            });
            handle
                .await
                .unwrap_or_else(|e| Err(StoreError::Io(std::io::Error::other(e.to_string()))))
        }
    }
}
