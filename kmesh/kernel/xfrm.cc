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

const char* XfrmOpName(XfrmOp op) {
  switch (op) {
    case XfrmOp::kAddSa:
      return "add SA";
    case XfrmOp::kUpdateSa:
      return "update SA";
    case XfrmOp::kDeleteSa:
      return "delete SA";
    case XfrmOp::kDumpSas:
      return "dump SAs";
    case XfrmOp::kAddPolicy:
      return "add policy";
    case XfrmOp::kUpdatePolicy:
      return "update policy";
    case XfrmOp::kDeletePolicy:
      return "delete policy";
    case XfrmOp::kDumpPolicies:
      return "dump policies";
  }
  return "?";
}

}  // namespace kmesh
