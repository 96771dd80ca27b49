//! One torrent's life as a state machine, sans-IO: commands (pause, resume, remove, verify) and
//! what the work reports (metadata found, check done, task ended, completed) go in; the
//! [`Action`]s the engine must carry out come out. At most one piece of work runs at a time
//! (fetching metadata, checking the data, or the torrent's task); a command that needs it
//! ended asks it to end and is remembered until it has.
//!
//! ```text
//!  magnet ─▶ Metadata ─▶ Checking ─▶ Downloading ─▶ Seeding ─(goal)─▶ Finished
//!                │           │            │            │
//!                └───────────┴── pause ───┴────────────┴──▶ Paused ── resume ─▶ (Checking or
//!                                                                      the task again)
//!  any failure ─▶ Error(reason) ── resume ─▶ Checking
//! ```

/// Where a torrent is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Asking peers for a magnet link's info dictionary.
    Metadata,
    /// Reading the resume data, or hashing what is on disk.
    Checking,
    Downloading,
    /// Complete and serving.
    Seeding,
    /// Stopped by request; what was verified is kept.
    Paused,
    /// Complete and done: no seeding was asked for, or its seeding goal was reached.
    Finished,
    /// Stopped by a failure, with its reason.
    Error(String),
}

/// What goes in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Pause,
    Resume,
    Remove {
        delete_data: bool,
    },
    /// Hash the data again (also after the file choice changed).
    Verify,
    MetadataFound,
    /// The check is done; `complete` when every wanted piece is verified.
    Checked {
        complete: bool,
    },
    /// Metadata, check or task failed.
    Failed(String),
    /// The metadata fetch or the check gave up because it was cancelled.
    Cancelled,
    /// Every wanted piece is verified (seen while the task runs).
    Completed,
    /// The seeding goal (ratio or time) is reached.
    GoalMet,
    /// The task ended, asked to or by itself, without an error.
    TaskEnded,
}

/// What the engine must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    FetchMetadata,
    /// Open the store and learn what is verified; `rehash` ignores the resume data.
    Check {
        rehash: bool,
    },
    /// Cancel the metadata fetch or the check under way.
    Cancel,
    StartTask,
    StopTask,
    /// The download is whole: give it its name, drop the resume data, run the done hook.
    Finish,
    /// Write the resume data of what is verified.
    SaveResume,
    DeleteData,
    /// Drop the torrent from the engine.
    Forget,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    None,
    Metadata,
    Check,
    Task,
}

/// What to do once the work under way has ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    /// Carry on as the work's outcome says.
    Continue,
    Pause,
    Remove {
        delete_data: bool,
    },
    /// Check again, then carry on (`pause`: stay paused after it).
    Verify {
        pause: bool,
    },
}

#[derive(Debug)]
pub struct Machine {
    state: State,
    work: Work,
    then: Then,
    /// The info dictionary is known (a torrent file, or a magnet link's fetched metadata).
    has_metadata: bool,
    /// A check (or a task) has said which pieces are verified; without it, a resume checks.
    have_known: bool,
    complete: bool,
    /// [`Action::Finish`] has been done for this completion.
    finished: bool,
    keep_seeding: bool,
}

impl Machine {
    /// A torrent just added: started at once unless `paused`.
    pub fn new(has_metadata: bool, keep_seeding: bool, paused: bool) -> (Machine, Vec<Action>) {
        let mut m = Machine {
            state: State::Paused,
            work: Work::None,
            then: Then::Continue,
            has_metadata,
            have_known: false,
            complete: false,
            finished: false,
            keep_seeding,
        };
        let actions = if paused { Vec::new() } else { m.start() };
        (m, actions)
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether no work runs: nothing to wait for before the torrent can be dropped.
    pub fn is_idle(&self) -> bool {
        self.work == Work::None
    }

    /// Asked to pause (or be removed), its work still ending: what a client shows as stopped.
    pub fn is_stopping(&self) -> bool {
        self.work != Work::None && matches!(self.then, Then::Pause | Then::Remove { .. })
    }

    pub fn is_complete(&self) -> bool {
        self.complete
    }

    pub fn keep_seeding(&self) -> bool {
        self.keep_seeding
    }

    /// Seeding after completion from now on, or not (a daemon's setting, or `--seed`).
    pub fn set_keep_seeding(&mut self, keep: bool) {
        self.keep_seeding = keep;
    }

    pub fn on(&mut self, input: Input) -> Vec<Action> {
        match input {
            Input::Pause => self.ask(Then::Pause),
            Input::Remove { delete_data } => self.ask(Then::Remove { delete_data }),
            Input::Verify => match self.work {
                Work::Metadata | Work::Check => Vec::new(),
                Work::Task => self.ask(Then::Verify { pause: false }),
                Work::None if !self.has_metadata => Vec::new(),
                Work::None => {
                    let pause = matches!(self.state, State::Paused | State::Finished);
                    self.then = if pause {
                        Then::Verify { pause: true }
                    } else {
                        Then::Continue
                    };
                    self.check(true)
                }
            },
            Input::Resume => match self.work {
                // Whatever was asked of the work under way is called off; a cancel already
                // sent cannot be, so it comes back as `Cancelled` and starts again below.
                Work::None => self.start(),
                _ => {
                    if matches!(self.then, Then::Pause) {
                        self.then = Then::Continue;
                    }
                    Vec::new()
                }
            },
            Input::MetadataFound => {
                self.has_metadata = true;
                self.work = Work::None;
                match self.then {
                    Then::Continue | Then::Verify { .. } => self.check(false),
                    _ => self.settle(),
                }
            }
            Input::Checked { complete } => {
                self.work = Work::None;
                self.have_known = true;
                self.complete = complete;
                if !complete {
                    self.finished = false;
                }
                match self.then {
                    Then::Continue => self.run(),
                    Then::Verify { pause: false } => {
                        self.then = Then::Continue;
                        self.run()
                    }
                    Then::Verify { pause: true } => {
                        self.then = Then::Pause;
                        let mut actions = self.finish_once();
                        actions.extend(self.settle());
                        actions
                    }
                    _ => self.settle(),
                }
            }
            Input::Cancelled => {
                self.work = Work::None;
                if self.then == Then::Continue {
                    // Resumed after the cancel went out: start again.
                    return self.start();
                }
                self.settle()
            }
            Input::Failed(reason) => {
                let had_task = self.work == Work::Task;
                self.work = Work::None;
                let mut actions = Vec::new();
                if had_task && !self.complete {
                    actions.push(Action::SaveResume);
                }
                match self.then {
                    Then::Remove { .. } => actions.extend(self.settle()),
                    _ => {
                        self.then = Then::Continue;
                        self.state = State::Error(reason);
                    }
                }
                actions
            }
            Input::Completed => {
                if self.work != Work::Task || self.complete {
                    return Vec::new();
                }
                self.complete = true;
                if self.keep_seeding {
                    self.state = State::Seeding;
                }
                // Without seeding, the task ends by itself once complete.
                self.finish_once()
            }
            Input::GoalMet => {
                if self.work == Work::Task && self.state == State::Seeding {
                    self.keep_seeding = false;
                    self.work_ends()
                } else {
                    Vec::new()
                }
            }
            Input::TaskEnded => {
                self.work = Work::None;
                let mut actions = Vec::new();
                if !self.complete {
                    actions.push(Action::SaveResume);
                }
                match self.then {
                    Then::Verify { pause } => {
                        self.then = if pause {
                            Then::Verify { pause }
                        } else {
                            Then::Continue
                        };
                        actions.extend(self.check(true));
                    }
                    Then::Continue if self.complete => {
                        actions.extend(self.finish_once());
                        self.state = State::Finished;
                    }
                    // Ended incomplete without being asked (a stop from outside): paused.
                    Then::Continue => self.state = State::Paused,
                    _ => actions.extend(self.settle()),
                }
                actions
            }
        }
    }

    /// Starts what comes next for an idle torrent.
    fn start(&mut self) -> Vec<Action> {
        self.then = Then::Continue;
        if !self.has_metadata {
            self.work = Work::Metadata;
            self.state = State::Metadata;
            return vec![Action::FetchMetadata];
        }
        if !self.have_known || matches!(self.state, State::Error(_)) {
            return self.check(false);
        }
        self.run()
    }

    fn check(&mut self, rehash: bool) -> Vec<Action> {
        self.work = Work::Check;
        self.state = State::Checking;
        vec![Action::Check { rehash }]
    }

    /// With what is verified known: download, seed, or be done.
    fn run(&mut self) -> Vec<Action> {
        if self.complete && !self.keep_seeding {
            let actions = self.finish_once();
            self.state = State::Finished;
            return actions;
        }
        let mut actions = if self.complete {
            self.finish_once()
        } else {
            Vec::new()
        };
        self.work = Work::Task;
        self.state = if self.complete {
            State::Seeding
        } else {
            State::Downloading
        };
        actions.push(Action::StartTask);
        actions
    }

    fn finish_once(&mut self) -> Vec<Action> {
        if self.complete && !self.finished {
            self.finished = true;
            vec![Action::Finish]
        } else {
            Vec::new()
        }
    }

    /// A command that needs the work ended: asks it to end, or acts at once when idle.
    fn ask(&mut self, then: Then) -> Vec<Action> {
        if matches!(self.then, Then::Remove { .. }) {
            return Vec::new();
        }
        self.then = then;
        if self.work == Work::None {
            return self.settle();
        }
        self.work_ends()
    }

    fn work_ends(&mut self) -> Vec<Action> {
        match self.work {
            Work::Metadata | Work::Check => vec![Action::Cancel],
            Work::Task => vec![Action::StopTask],
            Work::None => Vec::new(),
        }
    }

    /// The work has ended: do what was asked of an idle torrent.
    fn settle(&mut self) -> Vec<Action> {
        match std::mem::replace(&mut self.then, Then::Continue) {
            Then::Remove { delete_data } => {
                let mut actions = Vec::new();
                if delete_data {
                    actions.push(Action::DeleteData);
                }
                actions.push(Action::Forget);
                actions
            }
            Then::Verify { .. } => self.check(true),
            Then::Pause | Then::Continue => {
                if !matches!(self.state, State::Error(_)) {
                    self.state = if self.complete && !self.keep_seeding {
                        State::Finished
                    } else {
                        State::Paused
                    };
                }
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    fn fetch() -> Machine {
        let (mut m, actions) = Machine::new(true, false, false);
        assert_eq!(actions, [Check { rehash: false }]);
        assert_eq!(m.on(Input::Checked { complete: false }), [StartTask]);
        assert_eq!(m.state(), &State::Downloading);
        m
    }

    #[test]
    fn a_fetch_checks_downloads_finishes_and_ends() {
        let mut m = fetch();
        assert_eq!(m.on(Input::Completed), [Finish]);
        assert_eq!(m.on(Input::TaskEnded), []);
        assert_eq!(m.state(), &State::Finished);
        assert!(m.is_idle() && m.is_complete());
    }

    #[test]
    fn pause_while_downloading_keeps_what_is_verified_and_resume_needs_no_check() {
        let mut m = fetch();
        assert_eq!(m.on(Input::Pause), [StopTask]);
        // Still stopping: not yet paused.
        assert_eq!(m.state(), &State::Downloading);
        assert!(m.is_stopping());
        assert_eq!(m.on(Input::TaskEnded), [SaveResume]);
        assert_eq!(m.state(), &State::Paused);
        assert!(!m.is_stopping());
        // The pieces the task verified are known: straight back to the task, no hashing.
        assert_eq!(m.on(Input::Resume), [StartTask]);
        assert_eq!(m.state(), &State::Downloading);
        assert_eq!(m.on(Input::Completed), [Finish]);
        assert_eq!(m.on(Input::TaskEnded), []);
        assert_eq!(m.state(), &State::Finished);
    }

    #[test]
    fn remove_while_checking_cancels_the_check_and_deletes_once_it_stopped() {
        let (mut m, _) = Machine::new(true, false, false);
        assert_eq!(m.on(Input::Remove { delete_data: true }), [Cancel]);
        // A second command changes nothing: the removal stands.
        assert_eq!(m.on(Input::Pause), []);
        assert_eq!(m.on(Input::Cancelled), [DeleteData, Forget]);
    }

    #[test]
    fn a_check_that_ends_after_a_remove_still_removes() {
        let (mut m, _) = Machine::new(true, false, false);
        m.on(Input::Remove { delete_data: false });
        assert_eq!(m.on(Input::Checked { complete: false }), [Forget]);
    }

    #[test]
    fn pause_during_metadata_then_resume_fetches_it_again() {
        let (mut m, actions) = Machine::new(false, false, false);
        assert_eq!(actions, [FetchMetadata]);
        assert_eq!(m.state(), &State::Metadata);
        assert_eq!(m.on(Input::Pause), [Cancel]);
        assert_eq!(m.on(Input::Cancelled), []);
        assert_eq!(m.state(), &State::Paused);
        assert_eq!(m.on(Input::Resume), [FetchMetadata]);
        assert_eq!(m.on(Input::MetadataFound), [Check { rehash: false }]);
    }

    #[test]
    fn resume_before_a_cancel_lands_starts_over() {
        let (mut m, _) = Machine::new(true, false, false);
        assert_eq!(m.on(Input::Pause), [Cancel]);
        assert_eq!(m.on(Input::Resume), []);
        assert_eq!(m.on(Input::Cancelled), [Check { rehash: false }]);
        assert_eq!(m.state(), &State::Checking);
    }

    #[test]
    fn a_paused_check_is_redone_on_resume() {
        let (mut m, _) = Machine::new(true, false, false);
        m.on(Input::Pause);
        m.on(Input::Cancelled);
        assert_eq!(m.on(Input::Resume), [Check { rehash: false }]);
    }

    #[test]
    fn a_seed_keeps_running_after_completion_until_its_goal() {
        let (mut m, _) = Machine::new(true, true, false);
        assert_eq!(m.on(Input::Checked { complete: false }), [StartTask]);
        assert_eq!(m.on(Input::Completed), [Finish]);
        assert_eq!(m.state(), &State::Seeding);
        assert_eq!(m.on(Input::Completed), []);
        assert_eq!(m.on(Input::GoalMet), [StopTask]);
        assert_eq!(m.on(Input::TaskEnded), []);
        assert_eq!(m.state(), &State::Finished);
    }

    #[test]
    fn content_complete_at_start_is_finished_without_a_task_or_seeded() {
        let (mut m, _) = Machine::new(true, false, false);
        assert_eq!(m.on(Input::Checked { complete: true }), [Finish]);
        assert_eq!(m.state(), &State::Finished);
        let (mut s, _) = Machine::new(true, true, false);
        assert_eq!(s.on(Input::Checked { complete: true }), [Finish, StartTask]);
        assert_eq!(s.state(), &State::Seeding);
    }

    #[test]
    fn verify_stops_the_task_hashes_again_and_carries_on() {
        let mut m = fetch();
        assert_eq!(m.on(Input::Verify), [StopTask]);
        assert_eq!(m.on(Input::TaskEnded), [SaveResume, Check { rehash: true }]);
        assert_eq!(m.state(), &State::Checking);
        assert_eq!(m.on(Input::Checked { complete: false }), [StartTask]);
    }

    #[test]
    fn verify_of_a_paused_torrent_leaves_it_paused() {
        let mut m = fetch();
        m.on(Input::Pause);
        m.on(Input::TaskEnded);
        assert_eq!(m.on(Input::Verify), [Check { rehash: true }]);
        assert_eq!(m.on(Input::Checked { complete: false }), []);
        assert_eq!(m.state(), &State::Paused);
    }

    #[test]
    fn a_failure_keeps_its_reason_saves_what_it_had_and_resume_checks_again() {
        let mut m = fetch();
        assert_eq!(m.on(Input::Failed("no peer".into())), [SaveResume]);
        assert_eq!(m.state(), &State::Error("no peer".into()));
        assert_eq!(m.on(Input::Resume), [Check { rehash: false }]);
    }

    #[test]
    fn added_paused_does_nothing_until_resumed() {
        let (mut m, actions) = Machine::new(true, false, true);
        assert!(actions.is_empty() && m.is_idle());
        assert_eq!(m.state(), &State::Paused);
        assert_eq!(m.on(Input::Remove { delete_data: false }), [Forget]);
    }

    #[test]
    fn a_task_that_ends_incomplete_unasked_is_paused_with_its_pieces_saved() {
        let mut m = fetch();
        assert_eq!(m.on(Input::TaskEnded), [SaveResume]);
        assert_eq!(m.state(), &State::Paused);
    }
}
