//! Where the torrents' checks (and moves of their data) run: on at most [`WORKERS`] blocking
//! threads, in the order asked. A daemon restoring a thousand torrents queues a thousand
//! checks, most of them a resume file read and a few `stat`s: a few threads taking them one
//! after the other do that with no thread started, woken or handed a task for each, and
//! several full hashes cannot take every core and disk head at once.

use crate::runtime;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// Checks running at once; more wait their turn (a cancelled one ends at its first look).
pub const WORKERS: usize = 4;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
pub struct Checks {
    queue: Arc<Mutex<Queue>>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Threads taking jobs from `jobs` now.
    workers: usize,
}

impl Checks {
    /// Runs `job` on a worker: a free one, a new one while fewer than [`WORKERS`] run, else
    /// the first to finish what it has.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) {
        let mut queue = lock(&self.queue);
        queue.jobs.push_back(Box::new(job));
        if queue.workers < WORKERS {
            queue.workers += 1;
            drop(queue);
            let shared = self.queue.clone();
            // Detached: the worker ends when it finds no job left.
            drop(runtime::spawn_blocking(move || work(&shared)));
        }
    }
}

fn lock(queue: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

fn work(queue: &Mutex<Queue>) {
    loop {
        let job = {
            let mut q = lock(queue);
            match q.jobs.pop_front() {
                Some(job) => job,
                None => {
                    // Under the lock: a job queued after this sees the worker gone.
                    q.workers -= 1;
                    return;
                }
            }
        };
        job();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn every_job_runs_once_on_at_most_workers_threads() {
        let checks = Checks::default();
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (tx, rx) = mpsc::channel();
        for i in 0..40 {
            let (running, most, tx) = (running.clone(), most.clone(), tx.clone());
            checks.run(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                running.fetch_sub(1, Ordering::SeqCst);
                tx.send(i).unwrap();
            });
        }
        let mut done: Vec<i32> = (0..40)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        done.sort_unstable();
        assert_eq!(done, (0..40).collect::<Vec<_>>());
        let most = most.load(Ordering::SeqCst);
        assert!((1..=WORKERS).contains(&most), "{most} at once");
        // Every worker ends once the queue is empty, and a later job still runs.
        for _ in 0..1000 {
            if lock(&checks.queue).workers == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(lock(&checks.queue).workers, 0);
        checks.run(move || tx.send(99).unwrap());
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(99));
    }
}
