// The cluster's TLS folder: checking it and making one (actors/cluster_tls.hpp), with OpenSSL.
#include "actors/cluster_tls.hpp"

#include <cstdio>
#include <ctime>
#include <memory>

#include <cerrno>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace aha::actors::tls {
namespace {

namespace fs = std::filesystem;

template <class T, void (*Free)(T*)>
struct freer {
  void operator()(T* p) const { Free(p); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, freer<EVP_PKEY, EVP_PKEY_free>>;
using cert_ptr = std::unique_ptr<X509, freer<X509, X509_free>>;
using store_ptr = std::unique_ptr<X509_STORE, freer<X509_STORE, X509_STORE_free>>;
using store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, freer<X509_STORE_CTX, X509_STORE_CTX_free>>;
struct file_closer {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using file_ptr = std::unique_ptr<std::FILE, file_closer>;

// OpenSSL's queued reason for the last failure, as text ("" when it queued none).
std::string openssl_reason() {
  std::string out;
  while (auto code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

aha::error bad_file(const std::string& where, const fs::path& file, const std::string& what) {
  auto reason = openssl_reason();
  return make_error(errc::invalid_argument, where + ": " + file.string() + " " + what +
                                                (reason.empty() ? "" : " (" + reason + ")") +
                                                " (make the folder with `aha cluster certs DIR`)");
}

result<cert_ptr> read_certificate(const fs::path& file, const std::string& where) {
  file_ptr in{std::fopen(file.c_str(), "r")};
  if (!in) return make_error(errc::not_found, where + ": cannot read " + file.string() + " (make the folder with `aha cluster certs DIR`)");
  cert_ptr cert{PEM_read_X509(in.get(), nullptr, nullptr, nullptr)};
  if (!cert) return bad_file(where, file, "is not a PEM certificate");
  return cert;
}

result<key_ptr> read_private_key(const fs::path& file, const std::string& where) {
  file_ptr in{std::fopen(file.c_str(), "r")};
  if (!in) return make_error(errc::not_found, where + ": cannot read " + file.string() + " (make the folder with `aha cluster certs DIR`)");
  key_ptr key{PEM_read_PrivateKey(in.get(), nullptr, nullptr, nullptr)};
  if (!key) return bad_file(where, file, "is not an unencrypted PEM private key");
  return key;
}

// `cert` signed by `ca` and valid now, as X509_verify_cert (what the handshake does) sees it.
status verify_chain(X509* ca, X509* cert, const std::string& where, const fs::path& cert_file) {
  store_ptr store{X509_STORE_new()};
  store_ctx_ptr ctx{X509_STORE_CTX_new()};
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) != 1) {
    return bad_file(where, cert_file, "cannot be checked");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    const int code = X509_STORE_CTX_get_error(ctx.get());
    return make_error(errc::invalid_argument, where + ": " + cert_file.string() + " does not verify against ca.pem: " +
                                                  X509_verify_cert_error_string(code));
  }
  return ok_status();
}

key_ptr new_p256_key() { return key_ptr{EVP_EC_gen("P-256")}; }

bool add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  const bool added = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return added;
}

// A certificate for `key` named `common_name`, signed by `issuer_key` (issuer == nullptr: self-signed).
cert_ptr make_certificate(EVP_PKEY* key, const char* common_name, X509* issuer, EVP_PKEY* issuer_key, bool is_ca,
                          int valid_days) {
  cert_ptr cert{X509_new()};
  if (!cert) return {};
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return {};
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  const bool serial_set = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_NAME* name = X509_get_subject_name(cert.get());
  const bool ok =
      serial_set && X509_set_version(cert.get(), 2) == 1 && X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) &&
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(valid_days) * 86400) &&
      X509_set_pubkey(cert.get(), key) == 1 &&
      X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("aha cluster"), -1, -1, 0) == 1 &&
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0) == 1 &&
      X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name) == 1;
  if (!ok) return {};
  X509* signer = issuer ? issuer : cert.get();
  const bool extended =
      is_ca ? add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
                  add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign") &&
                  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash")
            : add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE") &&
                  add_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyAgreement") &&
                  add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth") &&
                  add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
  if (!extended || X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) return {};
  return cert;
}

// Creates `file` (never replacing one) with `mode` and writes it with `write`.
template <class Write>
status write_new_file(const fs::path& file, mode_t mode, Write write) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return make_error(errno == EEXIST ? errc::invalid_argument : errc::io_error,
                      "aha cluster certs: cannot create " + file.string() +
                          (errno == EEXIST ? ": it exists (certificates are never overwritten; pick a new folder)" : ""));
  }
  file_ptr out{::fdopen(fd, "w")};
  if (!out) {
    ::close(fd);
    return make_error(errc::io_error, "aha cluster certs: cannot write " + file.string());
  }
  if (!write(out.get()) || std::fflush(out.get()) != 0) {
    return make_error(errc::io_error, "aha cluster certs: cannot write " + file.string() + " " + openssl_reason());
  }
  return ok_status();
}

}  // namespace

result<tls_files> load_tls_dir(const fs::path& dir, const std::string& where) {
  if (dir.empty()) return make_error(errc::invalid_argument, where + " is empty");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return make_error(errc::not_found, where + ": " + dir.string() + " is not a folder (make it with `aha cluster certs " +
                                           dir.string() + "`)");
  }
  tls_files files{(dir / "ca.pem").string(), (dir / "cert.pem").string(), (dir / "key.pem").string()};
  auto ca = read_certificate(files.ca, where);
  if (!ca) return ca.error();
  auto cert = read_certificate(files.certificate, where);
  if (!cert) return cert.error();
  auto key = read_private_key(files.key, where);
  if (!key) return key.error();
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    return bad_file(where, files.key, "is not the private key of cert.pem");
  }
  if (auto s = verify_chain(ca->get(), cert->get(), where, files.certificate); !s) return s.error();
  struct ::stat st {};
  if (::stat(files.key.c_str(), &st) == 0 && (st.st_mode & 0077) != 0) {
    return make_error(errc::denied, where + ": " + files.key + " is readable by other users (chmod 600 it)");
  }
  return files;
}

status write_cluster_certs(const fs::path& dir, int valid_days) {
  if (valid_days < 1) return make_error(errc::invalid_argument, "aha cluster certs: --days must be at least 1");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(errc::io_error, "aha cluster certs: cannot create " + dir.string() + ": " + ec.message());
  // 1. The CA: a fresh key, a self-signed certificate; the key is dropped once the member is signed.
  auto ca_key = new_p256_key();
  auto ca = ca_key ? make_certificate(ca_key.get(), "aha cluster CA", nullptr, ca_key.get(), true, valid_days) : cert_ptr{};
  // 2. The member certificate every host presents.
  auto member_key = new_p256_key();
  auto member = (ca && member_key)
                    ? make_certificate(member_key.get(), "aha cluster member", ca.get(), ca_key.get(), false, valid_days)
                    : cert_ptr{};
  if (!member) return make_error(errc::internal, "aha cluster certs: OpenSSL could not make the certificates: " + openssl_reason());
  // 3. The files: the key first and private, so that a folder with certificates always has it.
  if (auto s = write_new_file(dir / "key.pem", 0600, [&](std::FILE* f) {
        return PEM_write_PrivateKey(f, member_key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
      }); !s) return s;
  if (auto s = write_new_file(dir / "cert.pem", 0644, [&](std::FILE* f) { return PEM_write_X509(f, member.get()) == 1; }); !s) {
    return s;
  }
  return write_new_file(dir / "ca.pem", 0644, [&](std::FILE* f) { return PEM_write_X509(f, ca.get()) == 1; });
}

}  // namespace aha::actors::tls
