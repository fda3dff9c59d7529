//! Protobuf types generated from ../contracts by build.rs.
#![allow(clippy::all, clippy::pedantic, dead_code)]
pub mod shop {
    pub mod common {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/shop.common.v1.rs"));
        }
    }
    pub mod events {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/shop.events.v1.rs"));
        }
    }
}
