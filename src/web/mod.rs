//! The portal's form, "Assistenza Primo Livello": the procedure's first channel. An HTTP
//! listener inside the daemon turns a submission into the core's inbound message and
//! hands it to the same pipeline as email, so it opens the same tickets by the same rules.

pub mod guard;
