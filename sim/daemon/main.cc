// kmesh-daemon-sim: kmesh-daemon with the simulated kernel (see
// sim_node_backends.h); same flags, same lifecycle.
#include "kmesh/daemon/daemon_runner.h"
#include "sim/daemon/sim_node_backends.h"

int main(int argc, char** argv) {
  return kmesh::daemon::RunDaemon(argc, argv, kmesh::sim::MakeSimNodeBackends);
}
