//! Caravel's gRPC API, generated from the `.proto` files beside this crate.

pub mod reposerver {
    pub mod v1 {
        tonic::include_proto!("caravel.reposerver.v1");
    }
}

pub mod application {
    pub mod v1 {
        tonic::include_proto!("caravel.application.v1");
    }
}

/// Encoded `FileDescriptorSet` of every Caravel service, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/caravel_descriptor.bin"));
