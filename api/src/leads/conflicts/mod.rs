//! The conflict-of-interest check: the firm's register of parties (`register`), how names,
//! emails and organisations are compared (`keys`), the check run on every submission and on
//! request (`check`), and an attorney's decision (`decide`). It uses `infra` and the lead
//! changes of its parent; nothing here reaches up to `web` or `app`.

pub mod check;
pub mod decide;
pub mod keys;
pub mod register;
