//! The payment gRPC client generated from contracts/proto.
#![allow(clippy::all)]

pub mod shop {
    pub mod common {
        pub mod v1 {
            tonic::include_proto!("shop.common.v1");
        }
    }
    pub mod payment {
        pub mod v1 {
            tonic::include_proto!("shop.payment.v1");
        }
    }
}
