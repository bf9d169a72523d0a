#include "core/error.h"

namespace frugal {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument: return "invalid argument";
    case ErrorKind::kIo: return "i/o error";
    case ErrorKind::kFormat: return "format error";
    case ErrorKind::kConfig: return "config error";
    case ErrorKind::kShape: return "shape error";
    case ErrorKind::kUnsupported: return "unsupported";
    case ErrorKind::kInternal: return "internal error";
  }
  return "error";
}

}  // namespace frugal
