//! Fluoro's benchmarks and load generator. Each benchmark measures against a baseline run in the
//! same process (see `BENCHMARKS.md`): `src/bin/udp_ingest.rs` compares `UdpReceiver` with a raw
//! `recvmmsg` sink.
