//! What cart needs of TLS beyond what tonic does: when its workload certificate expires
//! (`/readyz` fails before every checkout would). Its client identity itself is
//! `upstream::tls`'s; cart serves no TLS.
mod validity;

pub use validity::not_after;
