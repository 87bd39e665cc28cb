// Names of the error codes in core/result.hpp.
#include "core/result.hpp"

namespace aha {

const char* to_string(errc code) {
  switch (code) {
    case errc::invalid_argument: return "invalid argument";
    case errc::corrupt_data: return "corrupt data";
    case errc::version_mismatch: return "version mismatch";
    case errc::not_found: return "not found";
    case errc::io_error: return "I/O error";
    case errc::timeout: return "timeout";
    case errc::resource_limit: return "resource limit";
    case errc::unavailable: return "unavailable";
    case errc::internal: return "internal error";
    case errc::denied: return "denied";
  }
  return "unknown error";
}

}  // namespace aha
