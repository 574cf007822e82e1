//! bindgen output for the GnuTLS functions in server/src/sys/gnutls.h.
//! Regenerate with `make bindings`; scripts/bindings-check.sh checks it.
#![allow(non_camel_case_types, non_upper_case_globals, dead_code)]

pub const GNUTLS_SERVER: u32 = 1;
pub const GNUTLS_CLIENT: u32 = 2;
pub const GNUTLS_NONBLOCK: u32 = 8;
pub const GNUTLS_RECORD_WAIT: u32 = 1;
pub const GNUTLS_E_AGAIN: i32 = -28;
pub const GNUTLS_E_INTERRUPTED: i32 = -52;
pub const GNUTLS_E_PREMATURE_TERMINATION: i32 = -110;
pub const GNUTLS_CRD_CERTIFICATE: gnutls_credentials_type_t = 1;
pub const GNUTLS_CRD_ANON: gnutls_credentials_type_t = 2;
pub const GNUTLS_CRD_SRP: gnutls_credentials_type_t = 3;
pub const GNUTLS_CRD_PSK: gnutls_credentials_type_t = 4;
pub const GNUTLS_CRD_IA: gnutls_credentials_type_t = 5;
pub type gnutls_credentials_type_t = ::core::ffi::c_uint;
pub const GNUTLS_CERT_IGNORE: gnutls_certificate_request_t = 0;
pub const GNUTLS_CERT_REQUEST: gnutls_certificate_request_t = 1;
pub const GNUTLS_CERT_REQUIRE: gnutls_certificate_request_t = 2;
pub type gnutls_certificate_request_t = ::core::ffi::c_uint;
pub const GNUTLS_SHUT_RDWR: gnutls_close_request_t = 0;
pub const GNUTLS_SHUT_WR: gnutls_close_request_t = 1;
pub type gnutls_close_request_t = ::core::ffi::c_uint;
pub const GNUTLS_CRT_UNKNOWN: gnutls_certificate_type_t = 0;
pub const GNUTLS_CRT_X509: gnutls_certificate_type_t = 1;
pub const GNUTLS_CRT_OPENPGP: gnutls_certificate_type_t = 2;
pub const GNUTLS_CRT_RAWPK: gnutls_certificate_type_t = 3;
pub const GNUTLS_CRT_MAX: gnutls_certificate_type_t = 3;
pub type gnutls_certificate_type_t = ::core::ffi::c_uint;
pub const GNUTLS_X509_FMT_DER: gnutls_x509_crt_fmt_t = 0;
pub const GNUTLS_X509_FMT_PEM: gnutls_x509_crt_fmt_t = 1;
pub type gnutls_x509_crt_fmt_t = ::core::ffi::c_uint;
pub type gnutls_transport_ptr_t = *mut ::core::ffi::c_void;
#[repr(C)]
#[derive(Debug)]
pub struct gnutls_session_int {
    _unused: [u8; 0],
}
pub type gnutls_session_t = *mut gnutls_session_int;
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct gnutls_datum_t {
    pub data: *mut ::core::ffi::c_uchar,
    pub size: ::core::ffi::c_uint,
}
#[allow(clippy::unnecessary_operation, clippy::identity_op)]
const _: () = {
    ["Size of gnutls_datum_t"][::core::mem::size_of::<gnutls_datum_t>() - 16usize];
    ["Alignment of gnutls_datum_t"][::core::mem::align_of::<gnutls_datum_t>() - 8usize];
    ["Offset of field: gnutls_datum_t::data"]
        [::core::mem::offset_of!(gnutls_datum_t, data) - 0usize];
    ["Offset of field: gnutls_datum_t::size"]
        [::core::mem::offset_of!(gnutls_datum_t, size) - 8usize];
};
unsafe extern "C" {
    pub fn gnutls_init(
        session: *mut gnutls_session_t,
        flags: ::core::ffi::c_uint,
    ) -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_deinit(session: gnutls_session_t);
}
unsafe extern "C" {
    pub fn gnutls_bye(session: gnutls_session_t, how: gnutls_close_request_t)
        -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_handshake(session: gnutls_session_t) -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_alert_send_appropriate(
        session: gnutls_session_t,
        err: ::core::ffi::c_int,
    ) -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_certificate_type_get(session: gnutls_session_t) -> gnutls_certificate_type_t;
}
unsafe extern "C" {
    pub fn gnutls_error_is_fatal(error: ::core::ffi::c_int) -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_strerror(error: ::core::ffi::c_int) -> *const ::core::ffi::c_char;
}
unsafe extern "C" {
    pub fn gnutls_record_cork(session: gnutls_session_t);
}
unsafe extern "C" {
    pub fn gnutls_record_uncork(
        session: gnutls_session_t,
        flags: ::core::ffi::c_uint,
    ) -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_record_send(
        session: gnutls_session_t,
        data: *const ::core::ffi::c_void,
        data_size: usize,
    ) -> isize;
}
unsafe extern "C" {
    pub fn gnutls_record_recv(
        session: gnutls_session_t,
        data: *mut ::core::ffi::c_void,
        data_size: usize,
    ) -> isize;
}
unsafe extern "C" {
    pub fn gnutls_record_check_pending(session: gnutls_session_t) -> usize;
}
unsafe extern "C" {
    pub fn gnutls_priority_set_direct(
        session: gnutls_session_t,
        priorities: *const ::core::ffi::c_char,
        err_pos: *mut *const ::core::ffi::c_char,
    ) -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_session_get_desc(session: gnutls_session_t) -> *mut ::core::ffi::c_char;
}
unsafe extern "C" {
    pub fn gnutls_session_set_verify_cert(
        session: gnutls_session_t,
        hostname: *const ::core::ffi::c_char,
        flags: ::core::ffi::c_uint,
    );
}
unsafe extern "C" {
    pub fn gnutls_credentials_set(
        session: gnutls_session_t,
        type_: gnutls_credentials_type_t,
        cred: *mut ::core::ffi::c_void,
    ) -> ::core::ffi::c_int;
}
#[repr(C)]
#[derive(Debug)]
pub struct gnutls_x509_crt_int {
    _unused: [u8; 0],
}
pub type gnutls_x509_crt_t = *mut gnutls_x509_crt_int;
#[repr(C)]
#[derive(Debug)]
pub struct gnutls_certificate_credentials_st {
    _unused: [u8; 0],
}
pub type gnutls_certificate_credentials_t = *mut gnutls_certificate_credentials_st;
unsafe extern "C" {
    pub fn gnutls_certificate_free_credentials(sc: gnutls_certificate_credentials_t);
}
unsafe extern "C" {
    pub fn gnutls_certificate_allocate_credentials(
        res: *mut gnutls_certificate_credentials_t,
    ) -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_certificate_set_x509_trust_file(
        cred: gnutls_certificate_credentials_t,
        cafile: *const ::core::ffi::c_char,
        type_: gnutls_x509_crt_fmt_t,
    ) -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_certificate_set_x509_crl_file(
        res: gnutls_certificate_credentials_t,
        crlfile: *const ::core::ffi::c_char,
        type_: gnutls_x509_crt_fmt_t,
    ) -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_certificate_set_x509_key_file(
        res: gnutls_certificate_credentials_t,
        certfile: *const ::core::ffi::c_char,
        keyfile: *const ::core::ffi::c_char,
        type_: gnutls_x509_crt_fmt_t,
    ) -> ::core::ffi::c_int;
}
pub type gnutls_free_function =
    ::core::option::Option<unsafe extern "C" fn(arg1: *mut ::core::ffi::c_void)>;
unsafe extern "C" {
    pub static mut gnutls_free: gnutls_free_function;
}
pub type gnutls_log_func = ::core::option::Option<
    unsafe extern "C" fn(arg1: ::core::ffi::c_int, arg2: *const ::core::ffi::c_char),
>;
unsafe extern "C" {
    pub fn gnutls_global_set_log_function(log_func: gnutls_log_func);
}
unsafe extern "C" {
    pub fn gnutls_global_set_log_level(level: ::core::ffi::c_int);
}
pub type gnutls_pull_func = ::core::option::Option<
    unsafe extern "C" fn(
        arg1: gnutls_transport_ptr_t,
        arg2: *mut ::core::ffi::c_void,
        arg3: usize,
    ) -> isize,
>;
pub type gnutls_push_func = ::core::option::Option<
    unsafe extern "C" fn(
        arg1: gnutls_transport_ptr_t,
        arg2: *const ::core::ffi::c_void,
        arg3: usize,
    ) -> isize,
>;
unsafe extern "C" {
    pub fn gnutls_transport_set_int2(
        session: gnutls_session_t,
        r: ::core::ffi::c_int,
        s: ::core::ffi::c_int,
    );
}
unsafe extern "C" {
    pub fn gnutls_transport_set_ptr2(
        session: gnutls_session_t,
        recv_ptr: gnutls_transport_ptr_t,
        send_ptr: gnutls_transport_ptr_t,
    );
}
unsafe extern "C" {
    pub fn gnutls_transport_set_push_function(
        session: gnutls_session_t,
        push_func: gnutls_push_func,
    );
}
unsafe extern "C" {
    pub fn gnutls_transport_set_pull_function(
        session: gnutls_session_t,
        pull_func: gnutls_pull_func,
    );
}
unsafe extern "C" {
    pub fn gnutls_transport_set_errno(session: gnutls_session_t, err: ::core::ffi::c_int);
}
#[repr(C)]
#[derive(Debug)]
pub struct gnutls_psk_server_credentials_st {
    _unused: [u8; 0],
}
pub type gnutls_psk_server_credentials_t = *mut gnutls_psk_server_credentials_st;
#[repr(C)]
#[derive(Debug)]
pub struct gnutls_psk_client_credentials_st {
    _unused: [u8; 0],
}
pub type gnutls_psk_client_credentials_t = *mut gnutls_psk_client_credentials_st;
pub const GNUTLS_PSK_KEY_RAW: gnutls_psk_key_flags = 0;
pub const GNUTLS_PSK_KEY_HEX: gnutls_psk_key_flags = 1;
pub type gnutls_psk_key_flags = ::core::ffi::c_uint;
unsafe extern "C" {
    pub fn gnutls_psk_free_client_credentials(sc: gnutls_psk_client_credentials_t);
}
unsafe extern "C" {
    pub fn gnutls_psk_allocate_client_credentials(
        sc: *mut gnutls_psk_client_credentials_t,
    ) -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_psk_set_client_credentials(
        res: gnutls_psk_client_credentials_t,
        username: *const ::core::ffi::c_char,
        key: *const gnutls_datum_t,
        flags: gnutls_psk_key_flags,
    ) -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_psk_free_server_credentials(sc: gnutls_psk_server_credentials_t);
}
unsafe extern "C" {
    pub fn gnutls_psk_allocate_server_credentials(
        sc: *mut gnutls_psk_server_credentials_t,
    ) -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_psk_set_server_credentials_file(
        res: gnutls_psk_server_credentials_t,
        password_file: *const ::core::ffi::c_char,
    ) -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_psk_server_get_username(session: gnutls_session_t) -> *const ::core::ffi::c_char;
}
unsafe extern "C" {
    pub fn gnutls_auth_get_type(session: gnutls_session_t) -> gnutls_credentials_type_t;
}
unsafe extern "C" {
    pub fn gnutls_certificate_server_set_request(
        session: gnutls_session_t,
        req: gnutls_certificate_request_t,
    );
}
unsafe extern "C" {
    pub fn gnutls_certificate_get_peers(
        session: gnutls_session_t,
        list_size: *mut ::core::ffi::c_uint,
    ) -> *const gnutls_datum_t;
}
unsafe extern "C" {
    pub fn gnutls_x509_crt_init(cert: *mut gnutls_x509_crt_t) -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_x509_crt_deinit(cert: gnutls_x509_crt_t);
}
unsafe extern "C" {
    pub fn gnutls_x509_crt_import(
        cert: gnutls_x509_crt_t,
        data: *const gnutls_datum_t,
        format: gnutls_x509_crt_fmt_t,
    ) -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_x509_crt_get_issuer_dn3(
        cert: gnutls_x509_crt_t,
        dn: *mut gnutls_datum_t,
        flags: ::core::ffi::c_uint,
    ) -> ::core::ffi::c_int;
}
unsafe extern "C" {
    pub fn gnutls_x509_crt_get_dn3(
        cert: gnutls_x509_crt_t,
        dn: *mut gnutls_datum_t,
        flags: ::core::ffi::c_uint,
    ) -> ::core::ffi::c_int;
}
