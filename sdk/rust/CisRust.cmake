# Building cis skills written in Rust (sdk/rust) from CMake.
#
# The toolchain is Debian's, called by absolute path so that no other Rust
# installation on the machine is picked up: CIS_CARGO and CIS_RUSTC
# (default /usr/bin/cargo and /usr/bin/rustc, Rust 1.63 with the wasm32
# standard library of libstd-rust-dev-wasm32). Cargo runs --offline with
# CARGO_HOME inside the build tree. CIS_RUST_WASM is TRUE when all of it is
# there.
#
#   cis_rust_skill(TARGET name CRATE dir BIN bin OUTPUT file.wasm)
# builds crate folder `dir` (its Cargo.lock committed) for
# wasm32-unknown-unknown in release mode and copies binary `bin`'s module
# to `file.wasm`.
#
# Include it from every folder that builds Rust skills: the settings are
# ordinary variables of the including folder (include_guard(DIRECTORY)).
include_guard(DIRECTORY)

set(CIS_CARGO /usr/bin/cargo CACHE FILEPATH "cargo used to build Rust skills")
set(CIS_RUSTC /usr/bin/rustc CACHE FILEPATH "rustc used to build Rust skills")
set(CIS_CARGO_HOME ${PROJECT_BINARY_DIR}/cargo-home)
set(CIS_CARGO_TARGET_DIR ${PROJECT_BINARY_DIR}/cargo-target)

set(CIS_RUST_WASM FALSE)
if(EXISTS ${CIS_CARGO} AND EXISTS ${CIS_RUSTC})
  execute_process(COMMAND ${CIS_RUSTC} --print sysroot OUTPUT_VARIABLE _cis_sysroot
                  OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _cis_rc ERROR_QUIET)
  if(_cis_rc EQUAL 0 AND EXISTS ${_cis_sysroot}/lib/rustlib/wasm32-unknown-unknown/lib)
    set(CIS_RUST_WASM TRUE)
  endif()
endif()
get_property(_cis_said GLOBAL PROPERTY CIS_RUST_WASM_SAID)
if(NOT CIS_RUST_WASM AND NOT _cis_said)
  set_property(GLOBAL PROPERTY CIS_RUST_WASM_SAID TRUE)
  message(STATUS "Rust skills: ${CIS_CARGO} / ${CIS_RUSTC} with the wasm32 std not found "
                 "(scripts/install-deps.sh); the Rust examples are not built")
endif()

# The environment of every cargo run: only this build's CARGO_HOME, and the
# rustc and rustdoc next to CIS_RUSTC.
get_filename_component(_cis_rustbin ${CIS_RUSTC} DIRECTORY)
set(CIS_CARGO_ENV ${CMAKE_COMMAND} -E env --unset=RUSTC_WRAPPER --unset=RUSTFLAGS
    --unset=CARGO_BUILD_TARGET --unset=CARGO_TARGET_DIR CARGO_HOME=${CIS_CARGO_HOME} RUSTC=${CIS_RUSTC}
    RUSTDOC=${_cis_rustbin}/rustdoc)

function(cis_rust_skill)
  cmake_parse_arguments(R "" "TARGET;CRATE;BIN;OUTPUT" "" ${ARGN})
  set(tdir ${CIS_CARGO_TARGET_DIR}/${R_TARGET})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${R_CRATE}/src/*.rs ${PROJECT_SOURCE_DIR}/sdk/rust/src/*.rs)
  add_custom_command(OUTPUT ${R_OUTPUT}
    COMMAND ${CIS_CARGO_ENV} ${CIS_CARGO} build --release --offline --locked --quiet
            --target wasm32-unknown-unknown --manifest-path ${R_CRATE}/Cargo.toml --target-dir ${tdir}
    COMMAND ${CMAKE_COMMAND} -E copy ${tdir}/wasm32-unknown-unknown/release/${R_BIN}.wasm ${R_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -E touch ${R_OUTPUT}
    DEPENDS ${srcs} ${R_CRATE}/Cargo.toml ${R_CRATE}/Cargo.lock ${PROJECT_SOURCE_DIR}/sdk/rust/Cargo.toml
    COMMENT "cargo: building ${R_BIN}.wasm" VERBATIM)
  add_custom_target(${R_TARGET} ALL DEPENDS ${R_OUTPUT})
endfunction()
