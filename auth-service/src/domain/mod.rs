//! Types that are valid by construction: a value of them has passed its checks.
mod email;
mod password;
mod role;

pub use email::Email;
pub use password::Password;
pub use role::Role;
