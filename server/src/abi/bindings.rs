//! bindgen output for include/nbdkit-plugin.h (API version 2) and nbdkit-filter.h.
//! Regenerate with `make bindings`; scripts/bindings-check.sh checks it.
#![allow(non_camel_case_types, non_upper_case_globals, dead_code)]
// The opaque lists are the ones the exported functions take.
use super::opaque::{nbdkit_exports, nbdkit_extents};

pub const NBDKIT_API_VERSION: u32 = 2;
pub const NBDKIT_VERSION_MAJOR: u32 = 1;
pub const NBDKIT_VERSION_MINOR: u32 = 44;
pub const NBDKIT_VERSION_MICRO: u32 = 1;
pub const NBDKIT_VERSION_STRING: &[u8; 7] = b"1.44.1\0";
pub const NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS: u32 = 0;
pub const NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS: u32 = 1;
pub const NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS: u32 = 2;
pub const NBDKIT_THREAD_MODEL_PARALLEL: u32 = 3;
pub const NBDKIT_FLAG_MAY_TRIM: u32 = 1;
pub const NBDKIT_FLAG_FUA: u32 = 2;
pub const NBDKIT_FLAG_REQ_ONE: u32 = 4;
pub const NBDKIT_FLAG_FAST_ZERO: u32 = 8;
pub const NBDKIT_FUA_NONE: u32 = 0;
pub const NBDKIT_FUA_EMULATE: u32 = 1;
pub const NBDKIT_FUA_NATIVE: u32 = 2;
pub const NBDKIT_CACHE_NONE: u32 = 0;
pub const NBDKIT_CACHE_EMULATE: u32 = 1;
pub const NBDKIT_CACHE_NATIVE: u32 = 2;
pub const NBDKIT_EXTENT_HOLE: u32 = 1;
pub const NBDKIT_EXTENT_ZERO: u32 = 2;
pub const NBDKIT_FILTER_API_VERSION: u32 = 6;
pub const NBDKIT_ZERO_NONE: u32 = 0;
pub const NBDKIT_ZERO_EMULATE: u32 = 1;
pub const NBDKIT_ZERO_NATIVE: u32 = 2;
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct nbdkit_plugin {
    pub _struct_size: u64,
    pub _api_version: ::core::ffi::c_int,
    pub _thread_model: ::core::ffi::c_int,
    pub name: *const ::core::ffi::c_char,
    pub longname: *const ::core::ffi::c_char,
    pub version: *const ::core::ffi::c_char,
    pub description: *const ::core::ffi::c_char,
    pub load: ::core::option::Option<unsafe extern "C" fn()>,
    pub unload: ::core::option::Option<unsafe extern "C" fn()>,
    pub config: ::core::option::Option<
        unsafe extern "C" fn(
            key: *const ::core::ffi::c_char,
            value: *const ::core::ffi::c_char,
        ) -> ::core::ffi::c_int,
    >,
    pub config_complete: ::core::option::Option<unsafe extern "C" fn() -> ::core::ffi::c_int>,
    pub config_help: *const ::core::ffi::c_char,
    pub open: ::core::option::Option<
        unsafe extern "C" fn(readonly: ::core::ffi::c_int) -> *mut ::core::ffi::c_void,
    >,
    pub close: ::core::option::Option<unsafe extern "C" fn(handle: *mut ::core::ffi::c_void)>,
    pub get_size:
        ::core::option::Option<unsafe extern "C" fn(handle: *mut ::core::ffi::c_void) -> i64>,
    pub can_write: ::core::option::Option<
        unsafe extern "C" fn(handle: *mut ::core::ffi::c_void) -> ::core::ffi::c_int,
    >,
    pub can_flush: ::core::option::Option<
        unsafe extern "C" fn(handle: *mut ::core::ffi::c_void) -> ::core::ffi::c_int,
    >,
    pub is_rotational: ::core::option::Option<
        unsafe extern "C" fn(handle: *mut ::core::ffi::c_void) -> ::core::ffi::c_int,
    >,
    pub can_trim: ::core::option::Option<
        unsafe extern "C" fn(handle: *mut ::core::ffi::c_void) -> ::core::ffi::c_int,
    >,
    pub _pread_v1: ::core::option::Option<
        unsafe extern "C" fn(
            handle: *mut ::core::ffi::c_void,
            buf: *mut ::core::ffi::c_void,
            count: u32,
            offset: u64,
        ) -> ::core::ffi::c_int,
    >,
    pub _pwrite_v1: ::core::option::Option<
        unsafe extern "C" fn(
            handle: *mut ::core::ffi::c_void,
            buf: *const ::core::ffi::c_void,
            count: u32,
            offset: u64,
        ) -> ::core::ffi::c_int,
    >,
    pub _flush_v1: ::core::option::Option<
        unsafe extern "C" fn(handle: *mut ::core::ffi::c_void) -> ::core::ffi::c_int,
    >,
    pub _trim_v1: ::core::option::Option<
        unsafe extern "C" fn(
            handle: *mut ::core::ffi::c_void,
            count: u32,
            offset: u64,
        ) -> ::core::ffi::c_int,
    >,
    pub _zero_v1: ::core::option::Option<
        unsafe extern "C" fn(
            handle: *mut ::core::ffi::c_void,
            count: u32,
            offset: u64,
            may_trim: ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
    pub errno_is_preserved: ::core::ffi::c_int,
    pub dump_plugin: ::core::option::Option<unsafe extern "C" fn()>,
    pub can_zero: ::core::option::Option<
        unsafe extern "C" fn(handle: *mut ::core::ffi::c_void) -> ::core::ffi::c_int,
    >,
    pub can_fua: ::core::option::Option<
        unsafe extern "C" fn(handle: *mut ::core::ffi::c_void) -> ::core::ffi::c_int,
    >,
    pub pread: ::core::option::Option<
        unsafe extern "C" fn(
            handle: *mut ::core::ffi::c_void,
            buf: *mut ::core::ffi::c_void,
            count: u32,
            offset: u64,
            flags: u32,
        ) -> ::core::ffi::c_int,
    >,
    pub pwrite: ::core::option::Option<
        unsafe extern "C" fn(
            handle: *mut ::core::ffi::c_void,
            buf: *const ::core::ffi::c_void,
            count: u32,
            offset: u64,
            flags: u32,
        ) -> ::core::ffi::c_int,
    >,
    pub flush: ::core::option::Option<
        unsafe extern "C" fn(handle: *mut ::core::ffi::c_void, flags: u32) -> ::core::ffi::c_int,
    >,
    pub trim: ::core::option::Option<
        unsafe extern "C" fn(
            handle: *mut ::core::ffi::c_void,
            count: u32,
            offset: u64,
            flags: u32,
        ) -> ::core::ffi::c_int,
    >,
    pub zero: ::core::option::Option<
        unsafe extern "C" fn(
            handle: *mut ::core::ffi::c_void,
            count: u32,
            offset: u64,
            flags: u32,
        ) -> ::core::ffi::c_int,
    >,
    pub magic_config_key: *const ::core::ffi::c_char,
    pub can_multi_conn: ::core::option::Option<
        unsafe extern "C" fn(handle: *mut ::core::ffi::c_void) -> ::core::ffi::c_int,
    >,
    pub can_extents: ::core::option::Option<
        unsafe extern "C" fn(handle: *mut ::core::ffi::c_void) -> ::core::ffi::c_int,
    >,
    pub extents: ::core::option::Option<
        unsafe extern "C" fn(
            handle: *mut ::core::ffi::c_void,
            count: u32,
            offset: u64,
            flags: u32,
            extents: *mut nbdkit_extents,
        ) -> ::core::ffi::c_int,
    >,
    pub can_cache: ::core::option::Option<
        unsafe extern "C" fn(handle: *mut ::core::ffi::c_void) -> ::core::ffi::c_int,
    >,
    pub cache: ::core::option::Option<
        unsafe extern "C" fn(
            handle: *mut ::core::ffi::c_void,
            count: u32,
            offset: u64,
            flags: u32,
        ) -> ::core::ffi::c_int,
    >,
    pub thread_model: ::core::option::Option<unsafe extern "C" fn() -> ::core::ffi::c_int>,
    pub can_fast_zero: ::core::option::Option<
        unsafe extern "C" fn(handle: *mut ::core::ffi::c_void) -> ::core::ffi::c_int,
    >,
    pub preconnect: ::core::option::Option<
        unsafe extern "C" fn(readonly: ::core::ffi::c_int) -> ::core::ffi::c_int,
    >,
    pub get_ready: ::core::option::Option<unsafe extern "C" fn() -> ::core::ffi::c_int>,
    pub after_fork: ::core::option::Option<unsafe extern "C" fn() -> ::core::ffi::c_int>,
    pub list_exports: ::core::option::Option<
        unsafe extern "C" fn(
            readonly: ::core::ffi::c_int,
            is_tls: ::core::ffi::c_int,
            exports: *mut nbdkit_exports,
        ) -> ::core::ffi::c_int,
    >,
    pub default_export: ::core::option::Option<
        unsafe extern "C" fn(
            readonly: ::core::ffi::c_int,
            is_tls: ::core::ffi::c_int,
        ) -> *const ::core::ffi::c_char,
    >,
    pub export_description: ::core::option::Option<
        unsafe extern "C" fn(handle: *mut ::core::ffi::c_void) -> *const ::core::ffi::c_char,
    >,
    pub cleanup: ::core::option::Option<unsafe extern "C" fn()>,
    pub block_size: ::core::option::Option<
        unsafe extern "C" fn(
            handle: *mut ::core::ffi::c_void,
            minimum: *mut u32,
            preferred: *mut u32,
            maximum: *mut u32,
        ) -> ::core::ffi::c_int,
    >,
}
#[allow(clippy::unnecessary_operation, clippy::identity_op)]
const _: () = {
    ["Size of nbdkit_plugin"][::core::mem::size_of::<nbdkit_plugin>() - 384usize];
    ["Alignment of nbdkit_plugin"][::core::mem::align_of::<nbdkit_plugin>() - 8usize];
    ["Offset of field: nbdkit_plugin::_struct_size"]
        [::core::mem::offset_of!(nbdkit_plugin, _struct_size) - 0usize];
    ["Offset of field: nbdkit_plugin::_api_version"]
        [::core::mem::offset_of!(nbdkit_plugin, _api_version) - 8usize];
    ["Offset of field: nbdkit_plugin::_thread_model"]
        [::core::mem::offset_of!(nbdkit_plugin, _thread_model) - 12usize];
    ["Offset of field: nbdkit_plugin::name"]
        [::core::mem::offset_of!(nbdkit_plugin, name) - 16usize];
    ["Offset of field: nbdkit_plugin::longname"]
        [::core::mem::offset_of!(nbdkit_plugin, longname) - 24usize];
    ["Offset of field: nbdkit_plugin::version"]
        [::core::mem::offset_of!(nbdkit_plugin, version) - 32usize];
    ["Offset of field: nbdkit_plugin::description"]
        [::core::mem::offset_of!(nbdkit_plugin, description) - 40usize];
    ["Offset of field: nbdkit_plugin::load"]
        [::core::mem::offset_of!(nbdkit_plugin, load) - 48usize];
    ["Offset of field: nbdkit_plugin::unload"]
        [::core::mem::offset_of!(nbdkit_plugin, unload) - 56usize];
    ["Offset of field: nbdkit_plugin::config"]
        [::core::mem::offset_of!(nbdkit_plugin, config) - 64usize];
    ["Offset of field: nbdkit_plugin::config_complete"]
        [::core::mem::offset_of!(nbdkit_plugin, config_complete) - 72usize];
    ["Offset of field: nbdkit_plugin::config_help"]
        [::core::mem::offset_of!(nbdkit_plugin, config_help) - 80usize];
    ["Offset of field: nbdkit_plugin::open"]
        [::core::mem::offset_of!(nbdkit_plugin, open) - 88usize];
    ["Offset of field: nbdkit_plugin::close"]
        [::core::mem::offset_of!(nbdkit_plugin, close) - 96usize];
    ["Offset of field: nbdkit_plugin::get_size"]
        [::core::mem::offset_of!(nbdkit_plugin, get_size) - 104usize];
    ["Offset of field: nbdkit_plugin::can_write"]
        [::core::mem::offset_of!(nbdkit_plugin, can_write) - 112usize];
    ["Offset of field: nbdkit_plugin::can_flush"]
        [::core::mem::offset_of!(nbdkit_plugin, can_flush) - 120usize];
    ["Offset of field: nbdkit_plugin::is_rotational"]
        [::core::mem::offset_of!(nbdkit_plugin, is_rotational) - 128usize];
    ["Offset of field: nbdkit_plugin::can_trim"]
        [::core::mem::offset_of!(nbdkit_plugin, can_trim) - 136usize];
    ["Offset of field: nbdkit_plugin::_pread_v1"]
        [::core::mem::offset_of!(nbdkit_plugin, _pread_v1) - 144usize];
    ["Offset of field: nbdkit_plugin::_pwrite_v1"]
        [::core::mem::offset_of!(nbdkit_plugin, _pwrite_v1) - 152usize];
    ["Offset of field: nbdkit_plugin::_flush_v1"]
        [::core::mem::offset_of!(nbdkit_plugin, _flush_v1) - 160usize];
    ["Offset of field: nbdkit_plugin::_trim_v1"]
        [::core::mem::offset_of!(nbdkit_plugin, _trim_v1) - 168usize];
    ["Offset of field: nbdkit_plugin::_zero_v1"]
        [::core::mem::offset_of!(nbdkit_plugin, _zero_v1) - 176usize];
    ["Offset of field: nbdkit_plugin::errno_is_preserved"]
        [::core::mem::offset_of!(nbdkit_plugin, errno_is_preserved) - 184usize];
    ["Offset of field: nbdkit_plugin::dump_plugin"]
        [::core::mem::offset_of!(nbdkit_plugin, dump_plugin) - 192usize];
    ["Offset of field: nbdkit_plugin::can_zero"]
        [::core::mem::offset_of!(nbdkit_plugin, can_zero) - 200usize];
    ["Offset of field: nbdkit_plugin::can_fua"]
        [::core::mem::offset_of!(nbdkit_plugin, can_fua) - 208usize];
    ["Offset of field: nbdkit_plugin::pread"]
        [::core::mem::offset_of!(nbdkit_plugin, pread) - 216usize];
    ["Offset of field: nbdkit_plugin::pwrite"]
        [::core::mem::offset_of!(nbdkit_plugin, pwrite) - 224usize];
    ["Offset of field: nbdkit_plugin::flush"]
        [::core::mem::offset_of!(nbdkit_plugin, flush) - 232usize];
    ["Offset of field: nbdkit_plugin::trim"]
        [::core::mem::offset_of!(nbdkit_plugin, trim) - 240usize];
    ["Offset of field: nbdkit_plugin::zero"]
        [::core::mem::offset_of!(nbdkit_plugin, zero) - 248usize];
    ["Offset of field: nbdkit_plugin::magic_config_key"]
        [::core::mem::offset_of!(nbdkit_plugin, magic_config_key) - 256usize];
    ["Offset of field: nbdkit_plugin::can_multi_conn"]
        [::core::mem::offset_of!(nbdkit_plugin, can_multi_conn) - 264usize];
    ["Offset of field: nbdkit_plugin::can_extents"]
        [::core::mem::offset_of!(nbdkit_plugin, can_extents) - 272usize];
    ["Offset of field: nbdkit_plugin::extents"]
        [::core::mem::offset_of!(nbdkit_plugin, extents) - 280usize];
    ["Offset of field: nbdkit_plugin::can_cache"]
        [::core::mem::offset_of!(nbdkit_plugin, can_cache) - 288usize];
    ["Offset of field: nbdkit_plugin::cache"]
        [::core::mem::offset_of!(nbdkit_plugin, cache) - 296usize];
    ["Offset of field: nbdkit_plugin::thread_model"]
        [::core::mem::offset_of!(nbdkit_plugin, thread_model) - 304usize];
    ["Offset of field: nbdkit_plugin::can_fast_zero"]
        [::core::mem::offset_of!(nbdkit_plugin, can_fast_zero) - 312usize];
    ["Offset of field: nbdkit_plugin::preconnect"]
        [::core::mem::offset_of!(nbdkit_plugin, preconnect) - 320usize];
    ["Offset of field: nbdkit_plugin::get_ready"]
        [::core::mem::offset_of!(nbdkit_plugin, get_ready) - 328usize];
    ["Offset of field: nbdkit_plugin::after_fork"]
        [::core::mem::offset_of!(nbdkit_plugin, after_fork) - 336usize];
    ["Offset of field: nbdkit_plugin::list_exports"]
        [::core::mem::offset_of!(nbdkit_plugin, list_exports) - 344usize];
    ["Offset of field: nbdkit_plugin::default_export"]
        [::core::mem::offset_of!(nbdkit_plugin, default_export) - 352usize];
    ["Offset of field: nbdkit_plugin::export_description"]
        [::core::mem::offset_of!(nbdkit_plugin, export_description) - 360usize];
    ["Offset of field: nbdkit_plugin::cleanup"]
        [::core::mem::offset_of!(nbdkit_plugin, cleanup) - 368usize];
    ["Offset of field: nbdkit_plugin::block_size"]
        [::core::mem::offset_of!(nbdkit_plugin, block_size) - 376usize];
};
#[repr(C)]
#[derive(Debug)]
pub struct nbdkit_backend {
    _unused: [u8; 0],
}
#[repr(C)]
#[derive(Debug)]
pub struct nbdkit_context {
    _unused: [u8; 0],
}
pub type nbdkit_next = nbdkit_next_ops;
pub type nbdkit_next_config = ::core::option::Option<
    unsafe extern "C" fn(
        nxdata: *mut nbdkit_backend,
        key: *const ::core::ffi::c_char,
        value: *const ::core::ffi::c_char,
    ) -> ::core::ffi::c_int,
>;
pub type nbdkit_next_config_complete =
    ::core::option::Option<unsafe extern "C" fn(nxdata: *mut nbdkit_backend) -> ::core::ffi::c_int>;
pub type nbdkit_next_preconnect = ::core::option::Option<
    unsafe extern "C" fn(
        nxdata: *mut nbdkit_backend,
        readonly: ::core::ffi::c_int,
    ) -> ::core::ffi::c_int,
>;
pub type nbdkit_next_list_exports = ::core::option::Option<
    unsafe extern "C" fn(
        nxdata: *mut nbdkit_backend,
        readonly: ::core::ffi::c_int,
        exports: *mut nbdkit_exports,
    ) -> ::core::ffi::c_int,
>;
pub type nbdkit_next_default_export = ::core::option::Option<
    unsafe extern "C" fn(
        nxdata: *mut nbdkit_backend,
        readonly: ::core::ffi::c_int,
    ) -> *const ::core::ffi::c_char,
>;
pub type nbdkit_next_open = ::core::option::Option<
    unsafe extern "C" fn(
        context: *mut nbdkit_context,
        readonly: ::core::ffi::c_int,
        exportname: *const ::core::ffi::c_char,
    ) -> ::core::ffi::c_int,
>;
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct nbdkit_next_ops {
    pub prepare: ::core::option::Option<
        unsafe extern "C" fn(nxdata: *mut nbdkit_next) -> ::core::ffi::c_int,
    >,
    pub finalize: ::core::option::Option<
        unsafe extern "C" fn(nxdata: *mut nbdkit_next) -> ::core::ffi::c_int,
    >,
    pub get_size: ::core::option::Option<unsafe extern "C" fn(nxdata: *mut nbdkit_next) -> i64>,
    pub export_description: ::core::option::Option<
        unsafe extern "C" fn(nxdata: *mut nbdkit_next) -> *const ::core::ffi::c_char,
    >,
    pub block_size: ::core::option::Option<
        unsafe extern "C" fn(
            nxdata: *mut nbdkit_next,
            minimum: *mut u32,
            preferred: *mut u32,
            maximum: *mut u32,
        ) -> ::core::ffi::c_int,
    >,
    pub can_write: ::core::option::Option<
        unsafe extern "C" fn(nxdata: *mut nbdkit_next) -> ::core::ffi::c_int,
    >,
    pub can_flush: ::core::option::Option<
        unsafe extern "C" fn(nxdata: *mut nbdkit_next) -> ::core::ffi::c_int,
    >,
    pub is_rotational: ::core::option::Option<
        unsafe extern "C" fn(nxdata: *mut nbdkit_next) -> ::core::ffi::c_int,
    >,
    pub can_trim: ::core::option::Option<
        unsafe extern "C" fn(nxdata: *mut nbdkit_next) -> ::core::ffi::c_int,
    >,
    pub can_zero: ::core::option::Option<
        unsafe extern "C" fn(nxdata: *mut nbdkit_next) -> ::core::ffi::c_int,
    >,
    pub can_fast_zero: ::core::option::Option<
        unsafe extern "C" fn(nxdata: *mut nbdkit_next) -> ::core::ffi::c_int,
    >,
    pub can_extents: ::core::option::Option<
        unsafe extern "C" fn(nxdata: *mut nbdkit_next) -> ::core::ffi::c_int,
    >,
    pub can_fua: ::core::option::Option<
        unsafe extern "C" fn(nxdata: *mut nbdkit_next) -> ::core::ffi::c_int,
    >,
    pub can_multi_conn: ::core::option::Option<
        unsafe extern "C" fn(nxdata: *mut nbdkit_next) -> ::core::ffi::c_int,
    >,
    pub can_cache: ::core::option::Option<
        unsafe extern "C" fn(nxdata: *mut nbdkit_next) -> ::core::ffi::c_int,
    >,
    pub pread: ::core::option::Option<
        unsafe extern "C" fn(
            nxdata: *mut nbdkit_next,
            buf: *mut ::core::ffi::c_void,
            count: u32,
            offset: u64,
            flags: u32,
            err: *mut ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
    pub pwrite: ::core::option::Option<
        unsafe extern "C" fn(
            nxdata: *mut nbdkit_next,
            buf: *const ::core::ffi::c_void,
            count: u32,
            offset: u64,
            flags: u32,
            err: *mut ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
    pub flush: ::core::option::Option<
        unsafe extern "C" fn(
            nxdata: *mut nbdkit_next,
            flags: u32,
            err: *mut ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
    pub trim: ::core::option::Option<
        unsafe extern "C" fn(
            nxdata: *mut nbdkit_next,
            count: u32,
            offset: u64,
            flags: u32,
            err: *mut ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
    pub zero: ::core::option::Option<
        unsafe extern "C" fn(
            nxdata: *mut nbdkit_next,
            count: u32,
            offset: u64,
            flags: u32,
            err: *mut ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
    pub extents: ::core::option::Option<
        unsafe extern "C" fn(
            nxdata: *mut nbdkit_next,
            count: u32,
            offset: u64,
            flags: u32,
            extents: *mut nbdkit_extents,
            err: *mut ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
    pub cache: ::core::option::Option<
        unsafe extern "C" fn(
            nxdata: *mut nbdkit_next,
            count: u32,
            offset: u64,
            flags: u32,
            err: *mut ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
}
#[allow(clippy::unnecessary_operation, clippy::identity_op)]
const _: () = {
    ["Size of nbdkit_next_ops"][::core::mem::size_of::<nbdkit_next_ops>() - 176usize];
    ["Alignment of nbdkit_next_ops"][::core::mem::align_of::<nbdkit_next_ops>() - 8usize];
    ["Offset of field: nbdkit_next_ops::prepare"]
        [::core::mem::offset_of!(nbdkit_next_ops, prepare) - 0usize];
    ["Offset of field: nbdkit_next_ops::finalize"]
        [::core::mem::offset_of!(nbdkit_next_ops, finalize) - 8usize];
    ["Offset of field: nbdkit_next_ops::get_size"]
        [::core::mem::offset_of!(nbdkit_next_ops, get_size) - 16usize];
    ["Offset of field: nbdkit_next_ops::export_description"]
        [::core::mem::offset_of!(nbdkit_next_ops, export_description) - 24usize];
    ["Offset of field: nbdkit_next_ops::block_size"]
        [::core::mem::offset_of!(nbdkit_next_ops, block_size) - 32usize];
    ["Offset of field: nbdkit_next_ops::can_write"]
        [::core::mem::offset_of!(nbdkit_next_ops, can_write) - 40usize];
    ["Offset of field: nbdkit_next_ops::can_flush"]
        [::core::mem::offset_of!(nbdkit_next_ops, can_flush) - 48usize];
    ["Offset of field: nbdkit_next_ops::is_rotational"]
        [::core::mem::offset_of!(nbdkit_next_ops, is_rotational) - 56usize];
    ["Offset of field: nbdkit_next_ops::can_trim"]
        [::core::mem::offset_of!(nbdkit_next_ops, can_trim) - 64usize];
    ["Offset of field: nbdkit_next_ops::can_zero"]
        [::core::mem::offset_of!(nbdkit_next_ops, can_zero) - 72usize];
    ["Offset of field: nbdkit_next_ops::can_fast_zero"]
        [::core::mem::offset_of!(nbdkit_next_ops, can_fast_zero) - 80usize];
    ["Offset of field: nbdkit_next_ops::can_extents"]
        [::core::mem::offset_of!(nbdkit_next_ops, can_extents) - 88usize];
    ["Offset of field: nbdkit_next_ops::can_fua"]
        [::core::mem::offset_of!(nbdkit_next_ops, can_fua) - 96usize];
    ["Offset of field: nbdkit_next_ops::can_multi_conn"]
        [::core::mem::offset_of!(nbdkit_next_ops, can_multi_conn) - 104usize];
    ["Offset of field: nbdkit_next_ops::can_cache"]
        [::core::mem::offset_of!(nbdkit_next_ops, can_cache) - 112usize];
    ["Offset of field: nbdkit_next_ops::pread"]
        [::core::mem::offset_of!(nbdkit_next_ops, pread) - 120usize];
    ["Offset of field: nbdkit_next_ops::pwrite"]
        [::core::mem::offset_of!(nbdkit_next_ops, pwrite) - 128usize];
    ["Offset of field: nbdkit_next_ops::flush"]
        [::core::mem::offset_of!(nbdkit_next_ops, flush) - 136usize];
    ["Offset of field: nbdkit_next_ops::trim"]
        [::core::mem::offset_of!(nbdkit_next_ops, trim) - 144usize];
    ["Offset of field: nbdkit_next_ops::zero"]
        [::core::mem::offset_of!(nbdkit_next_ops, zero) - 152usize];
    ["Offset of field: nbdkit_next_ops::extents"]
        [::core::mem::offset_of!(nbdkit_next_ops, extents) - 160usize];
    ["Offset of field: nbdkit_next_ops::cache"]
        [::core::mem::offset_of!(nbdkit_next_ops, cache) - 168usize];
};
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct nbdkit_filter {
    pub _api_version: ::core::ffi::c_int,
    pub _version: *const ::core::ffi::c_char,
    pub name: *const ::core::ffi::c_char,
    pub longname: *const ::core::ffi::c_char,
    pub description: *const ::core::ffi::c_char,
    pub load: ::core::option::Option<unsafe extern "C" fn()>,
    pub unload: ::core::option::Option<unsafe extern "C" fn()>,
    pub config: ::core::option::Option<
        unsafe extern "C" fn(
            next: nbdkit_next_config,
            nxdata: *mut nbdkit_backend,
            key: *const ::core::ffi::c_char,
            value: *const ::core::ffi::c_char,
        ) -> ::core::ffi::c_int,
    >,
    pub config_complete: ::core::option::Option<
        unsafe extern "C" fn(
            next: nbdkit_next_config_complete,
            nxdata: *mut nbdkit_backend,
        ) -> ::core::ffi::c_int,
    >,
    pub config_help: *const ::core::ffi::c_char,
    pub thread_model: ::core::option::Option<
        unsafe extern "C" fn(next_thread_model: ::core::ffi::c_int) -> ::core::ffi::c_int,
    >,
    pub dump_plugin: ::core::option::Option<unsafe extern "C" fn()>,
    pub get_ready: ::core::option::Option<
        unsafe extern "C" fn(final_thread_model: ::core::ffi::c_int) -> ::core::ffi::c_int,
    >,
    pub after_fork: ::core::option::Option<
        unsafe extern "C" fn(backend: *mut nbdkit_backend) -> ::core::ffi::c_int,
    >,
    pub cleanup: ::core::option::Option<unsafe extern "C" fn(backend: *mut nbdkit_backend)>,
    pub preconnect: ::core::option::Option<
        unsafe extern "C" fn(
            next: nbdkit_next_preconnect,
            nxdata: *mut nbdkit_backend,
            readonly: ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
    pub list_exports: ::core::option::Option<
        unsafe extern "C" fn(
            next: nbdkit_next_list_exports,
            nxdata: *mut nbdkit_backend,
            readonly: ::core::ffi::c_int,
            is_tls: ::core::ffi::c_int,
            exports: *mut nbdkit_exports,
        ) -> ::core::ffi::c_int,
    >,
    pub default_export: ::core::option::Option<
        unsafe extern "C" fn(
            next: nbdkit_next_default_export,
            nxdata: *mut nbdkit_backend,
            readonly: ::core::ffi::c_int,
            is_tls: ::core::ffi::c_int,
        ) -> *const ::core::ffi::c_char,
    >,
    pub open: ::core::option::Option<
        unsafe extern "C" fn(
            next: nbdkit_next_open,
            context: *mut nbdkit_context,
            readonly: ::core::ffi::c_int,
            exportname: *const ::core::ffi::c_char,
            is_tls: ::core::ffi::c_int,
        ) -> *mut ::core::ffi::c_void,
    >,
    pub close: ::core::option::Option<unsafe extern "C" fn(handle: *mut ::core::ffi::c_void)>,
    pub prepare: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
            readonly: ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
    pub finalize: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
        ) -> ::core::ffi::c_int,
    >,
    pub get_size: ::core::option::Option<
        unsafe extern "C" fn(next: *mut nbdkit_next, handle: *mut ::core::ffi::c_void) -> i64,
    >,
    pub export_description: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
        ) -> *const ::core::ffi::c_char,
    >,
    pub block_size: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
            minimum: *mut u32,
            preferred: *mut u32,
            maximum: *mut u32,
        ) -> ::core::ffi::c_int,
    >,
    pub can_write: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
        ) -> ::core::ffi::c_int,
    >,
    pub can_flush: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
        ) -> ::core::ffi::c_int,
    >,
    pub is_rotational: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
        ) -> ::core::ffi::c_int,
    >,
    pub can_trim: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
        ) -> ::core::ffi::c_int,
    >,
    pub can_zero: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
        ) -> ::core::ffi::c_int,
    >,
    pub can_fast_zero: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
        ) -> ::core::ffi::c_int,
    >,
    pub can_extents: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
        ) -> ::core::ffi::c_int,
    >,
    pub can_fua: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
        ) -> ::core::ffi::c_int,
    >,
    pub can_multi_conn: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
        ) -> ::core::ffi::c_int,
    >,
    pub can_cache: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
        ) -> ::core::ffi::c_int,
    >,
    pub pread: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
            buf: *mut ::core::ffi::c_void,
            count: u32,
            offset: u64,
            flags: u32,
            err: *mut ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
    pub pwrite: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
            buf: *const ::core::ffi::c_void,
            count: u32,
            offset: u64,
            flags: u32,
            err: *mut ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
    pub flush: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
            flags: u32,
            err: *mut ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
    pub trim: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
            count: u32,
            offset: u64,
            flags: u32,
            err: *mut ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
    pub zero: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
            count: u32,
            offset: u64,
            flags: u32,
            err: *mut ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
    pub extents: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
            count: u32,
            offset: u64,
            flags: u32,
            extents: *mut nbdkit_extents,
            err: *mut ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
    pub cache: ::core::option::Option<
        unsafe extern "C" fn(
            next: *mut nbdkit_next,
            handle: *mut ::core::ffi::c_void,
            count: u32,
            offset: u64,
            flags: u32,
            err: *mut ::core::ffi::c_int,
        ) -> ::core::ffi::c_int,
    >,
}
#[allow(clippy::unnecessary_operation, clippy::identity_op)]
const _: () = {
    ["Size of nbdkit_filter"][::core::mem::size_of::<nbdkit_filter>() - 336usize];
    ["Alignment of nbdkit_filter"][::core::mem::align_of::<nbdkit_filter>() - 8usize];
    ["Offset of field: nbdkit_filter::_api_version"]
        [::core::mem::offset_of!(nbdkit_filter, _api_version) - 0usize];
    ["Offset of field: nbdkit_filter::_version"]
        [::core::mem::offset_of!(nbdkit_filter, _version) - 8usize];
    ["Offset of field: nbdkit_filter::name"]
        [::core::mem::offset_of!(nbdkit_filter, name) - 16usize];
    ["Offset of field: nbdkit_filter::longname"]
        [::core::mem::offset_of!(nbdkit_filter, longname) - 24usize];
    ["Offset of field: nbdkit_filter::description"]
        [::core::mem::offset_of!(nbdkit_filter, description) - 32usize];
    ["Offset of field: nbdkit_filter::load"]
        [::core::mem::offset_of!(nbdkit_filter, load) - 40usize];
    ["Offset of field: nbdkit_filter::unload"]
        [::core::mem::offset_of!(nbdkit_filter, unload) - 48usize];
    ["Offset of field: nbdkit_filter::config"]
        [::core::mem::offset_of!(nbdkit_filter, config) - 56usize];
    ["Offset of field: nbdkit_filter::config_complete"]
        [::core::mem::offset_of!(nbdkit_filter, config_complete) - 64usize];
    ["Offset of field: nbdkit_filter::config_help"]
        [::core::mem::offset_of!(nbdkit_filter, config_help) - 72usize];
    ["Offset of field: nbdkit_filter::thread_model"]
        [::core::mem::offset_of!(nbdkit_filter, thread_model) - 80usize];
    ["Offset of field: nbdkit_filter::dump_plugin"]
        [::core::mem::offset_of!(nbdkit_filter, dump_plugin) - 88usize];
    ["Offset of field: nbdkit_filter::get_ready"]
        [::core::mem::offset_of!(nbdkit_filter, get_ready) - 96usize];
    ["Offset of field: nbdkit_filter::after_fork"]
        [::core::mem::offset_of!(nbdkit_filter, after_fork) - 104usize];
    ["Offset of field: nbdkit_filter::cleanup"]
        [::core::mem::offset_of!(nbdkit_filter, cleanup) - 112usize];
    ["Offset of field: nbdkit_filter::preconnect"]
        [::core::mem::offset_of!(nbdkit_filter, preconnect) - 120usize];
    ["Offset of field: nbdkit_filter::list_exports"]
        [::core::mem::offset_of!(nbdkit_filter, list_exports) - 128usize];
    ["Offset of field: nbdkit_filter::default_export"]
        [::core::mem::offset_of!(nbdkit_filter, default_export) - 136usize];
    ["Offset of field: nbdkit_filter::open"]
        [::core::mem::offset_of!(nbdkit_filter, open) - 144usize];
    ["Offset of field: nbdkit_filter::close"]
        [::core::mem::offset_of!(nbdkit_filter, close) - 152usize];
    ["Offset of field: nbdkit_filter::prepare"]
        [::core::mem::offset_of!(nbdkit_filter, prepare) - 160usize];
    ["Offset of field: nbdkit_filter::finalize"]
        [::core::mem::offset_of!(nbdkit_filter, finalize) - 168usize];
    ["Offset of field: nbdkit_filter::get_size"]
        [::core::mem::offset_of!(nbdkit_filter, get_size) - 176usize];
    ["Offset of field: nbdkit_filter::export_description"]
        [::core::mem::offset_of!(nbdkit_filter, export_description) - 184usize];
    ["Offset of field: nbdkit_filter::block_size"]
        [::core::mem::offset_of!(nbdkit_filter, block_size) - 192usize];
    ["Offset of field: nbdkit_filter::can_write"]
        [::core::mem::offset_of!(nbdkit_filter, can_write) - 200usize];
    ["Offset of field: nbdkit_filter::can_flush"]
        [::core::mem::offset_of!(nbdkit_filter, can_flush) - 208usize];
    ["Offset of field: nbdkit_filter::is_rotational"]
        [::core::mem::offset_of!(nbdkit_filter, is_rotational) - 216usize];
    ["Offset of field: nbdkit_filter::can_trim"]
        [::core::mem::offset_of!(nbdkit_filter, can_trim) - 224usize];
    ["Offset of field: nbdkit_filter::can_zero"]
        [::core::mem::offset_of!(nbdkit_filter, can_zero) - 232usize];
    ["Offset of field: nbdkit_filter::can_fast_zero"]
        [::core::mem::offset_of!(nbdkit_filter, can_fast_zero) - 240usize];
    ["Offset of field: nbdkit_filter::can_extents"]
        [::core::mem::offset_of!(nbdkit_filter, can_extents) - 248usize];
    ["Offset of field: nbdkit_filter::can_fua"]
        [::core::mem::offset_of!(nbdkit_filter, can_fua) - 256usize];
    ["Offset of field: nbdkit_filter::can_multi_conn"]
        [::core::mem::offset_of!(nbdkit_filter, can_multi_conn) - 264usize];
    ["Offset of field: nbdkit_filter::can_cache"]
        [::core::mem::offset_of!(nbdkit_filter, can_cache) - 272usize];
    ["Offset of field: nbdkit_filter::pread"]
        [::core::mem::offset_of!(nbdkit_filter, pread) - 280usize];
    ["Offset of field: nbdkit_filter::pwrite"]
        [::core::mem::offset_of!(nbdkit_filter, pwrite) - 288usize];
    ["Offset of field: nbdkit_filter::flush"]
        [::core::mem::offset_of!(nbdkit_filter, flush) - 296usize];
    ["Offset of field: nbdkit_filter::trim"]
        [::core::mem::offset_of!(nbdkit_filter, trim) - 304usize];
    ["Offset of field: nbdkit_filter::zero"]
        [::core::mem::offset_of!(nbdkit_filter, zero) - 312usize];
    ["Offset of field: nbdkit_filter::extents"]
        [::core::mem::offset_of!(nbdkit_filter, extents) - 320usize];
    ["Offset of field: nbdkit_filter::cache"]
        [::core::mem::offset_of!(nbdkit_filter, cache) - 328usize];
};
