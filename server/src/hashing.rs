//! Password hashing (Argon2, tens of milliseconds of a core each, on
//! purpose) on threads of its own at the lowest CPU priority. A flood of
//! sign-ins is already held to a small in-flight budget
//! (`console::sign_in_router`); here the hashes it lets in only take CPU
//! time nothing else wants, so the recovery pages and the partner API keep
//! their latency while a credential-stuffing run goes on. With the CPU
//! idle, a sign-in costs what it always did.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads; cheap to clone.
#[derive(Clone)]
pub struct Hasher {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    /// `threads` hashing threads (at least one), each at the lowest
    /// priority the OS gives an unprivileged thread.
    pub fn new(threads: usize) -> Hasher {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("rebound-hash-{n}"))
                .spawn(move || {
                    lowest_priority();
                    loop {
                        let job = {
                            let queue = queue.lock().unwrap_or_else(|e| e.into_inner());
                            queue.recv()
                        };
                        match job {
                            Ok(job) => job(),
                            // Every `Hasher` is gone: the server stopped.
                            Err(_) => return,
                        }
                    }
                })
                .expect("the OS starts a thread");
        }
        Hasher { jobs }
    }

    /// Runs `work` on a hashing thread; `None` if the threads are gone.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(work());
            }))
            .ok()?;
        answer.await.ok()
    }
}

/// This thread at the lowest priority: on Linux `SCHED_IDLE`, which runs
/// only when no other thread wants the core and yields it at once when one
/// does, and nice 19 besides (what other Unixes have). A thread's policy
/// and nice value are its own, so the runtime's threads keep theirs.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: both calls only change the calling thread's scheduling
    // (pid 0: this thread); `param` lives through the call.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        let _ = libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
        let _ = libc::nice(19);
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    // SAFETY: as above.
    unsafe {
        let _ = libc::nice(19);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_a_low_priority_thread_and_answers() {
        let hasher = Hasher::new(1);
        let (name, nice) = hasher
            .run(|| {
                let name = std::thread::current().name().map(str::to_owned);
                #[cfg(target_os = "linux")]
                // SAFETY: reads this thread's priority.
                let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
                #[cfg(not(target_os = "linux"))]
                let nice = 19;
                (name, nice)
            })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("rebound-hash-0"));
        assert_eq!(nice, 19);
        #[cfg(target_os = "linux")]
        {
            // SAFETY: reads this thread's scheduling policy.
            let policy = hasher
                .run(|| unsafe { libc::sched_getscheduler(0) })
                .await
                .unwrap();
            assert_eq!(policy, libc::SCHED_IDLE);
        }
        let sum: u32 = hasher.run(|| (1..=10).sum()).await.unwrap();
        assert_eq!(sum, 55);
    }
}
