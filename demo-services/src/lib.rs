//! The PetAdoptions demo application (see `shared/spec/petadoptions.md`), instrumented, with its
//! traffic generator and fault scenarios. Nothing is implemented yet.
