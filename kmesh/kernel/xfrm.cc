#include "kmesh/kernel/xfrm.h"

namespace kmesh {

const char* XfrmDirName(XfrmDir dir) {
  switch (dir) {
    case XfrmDir::kIn:
      return "in";
    case XfrmDir::kOut:
      return "out";
    case XfrmDir::kFwd:
      return "fwd";
  }
  return "?";
}

}  // namespace kmesh
