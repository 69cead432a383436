OPENQASM 2.0;
include "qelib1.inc";
// qelib1's legacy gates: u3, u2, u1, cu1, cu3, crz, rzz, cswap, ccx
qreg q[4];
creg c[4];
u3(pi/2, 0, pi) q[0];
u2(0, pi) q[1];
u1(pi/4) q[2];
cu1(pi/2) q[0], q[1];
cu3(0.3, 0.2, 0.1) q[1], q[2];
crz(0.5) q[2], q[3];
rzz(0.25) q[0], q[3];
cswap q[0], q[1], q[2];
ccx q[0], q[1], q[3];
measure q -> c;
