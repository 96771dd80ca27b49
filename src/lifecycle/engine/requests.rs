//! A client's request about one torrent (pause, resume, remove, verify, a new file choice or
//! directory, a seeding goal, an announce now), turned into what its state machine takes.

use super::Owner;
use crate::lifecycle::disk::{self, Placement};
use crate::lifecycle::machine::Input;
use crate::lifecycle::{Id, Mode, Request};
use crate::torrent::Event;
use crate::{Error, Result};
use std::sync::Arc;

impl Owner {
    pub(super) async fn act(&mut self, id: Id, request: Request) -> Result<()> {
        let Some(entry) = self.entries.get_mut(&id) else {
            return Err(Error::BadArgument {
                what: "torrent",
                value: id.to_string(),
                reason: "no such torrent".into(),
            });
        };
        let input = match request {
            Request::Pause => Input::Pause,
            Request::Resume => Input::Resume,
            Request::Remove { delete_data } => Input::Remove { delete_data },
            Request::Verify => Input::Verify,
            Request::Reannounce if entry.parked.is_some() => {
                self.wake(id, Some(Event::Reannounce));
                return Ok(());
            }
            Request::Reannounce => {
                if let Some(task) = &entry.task {
                    task.reannounce().await;
                }
                return Ok(());
            }
            Request::SetOwnLimits(up, down) => {
                // The options may be shared: copied only for a change.
                if entry.options.own_limits != Some((up, down)) {
                    Arc::make_mut(&mut entry.options).own_limits = Some((up, down));
                }
                if let Some((u, d)) = &entry.limiters {
                    u.set(up);
                    d.set(down);
                }
                return Ok(());
            }
            Request::SetSeedRatio(ratio) => {
                if entry.options.seed_ratio != ratio {
                    Arc::make_mut(&mut entry.options).seed_ratio = ratio;
                }
                // A parked torrent runs to see whether it has met the new goal.
                if entry.parked.is_some() && ratio.is_some() {
                    self.wake(id, None);
                }
                return Ok(());
            }
            Request::Relocate { dir, move_data } => {
                if entry.options.mode == Mode::Seed {
                    return Err(Error::Failed(
                        "a seed serves its content where it is; it cannot be moved".into(),
                    ));
                }
                let resume = entry.resume_file();
                let to = entry
                    .has_metadata()
                    .then(|| Placement::with_resume(&dir, &entry.name, resume.as_deref()));
                if move_data && let (Some(from), Some(to)) = (entry.place(), to) {
                    // Refused at once, nothing changed, when a name there is taken (checked
                    // again as the move is made).
                    disk::movable(&from, &to)?;
                    entry.pending_move = Some(Box::new((from, to)));
                }
                Arc::make_mut(&mut entry.options).dir = dir;
                Input::Verify
            }
            Request::SetFiles(files) => {
                if entry.options.mode == Mode::Seed {
                    return Err(Error::Failed(
                        "a seed serves every file it has; its files cannot be chosen".into(),
                    ));
                }
                Arc::make_mut(&mut entry.options).files = files;
                Input::Verify
            }
        };
        self.input(id, input).await;
        Ok(())
    }
}
