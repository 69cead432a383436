OPENQASM 2.0;
include "qelib1.inc";
// Two quantum and two classical registers; q[1] and r[0] are never measured.
qreg q[3];
qreg r[2];
creg a[2];
creg b[1];
x q[0];
h r[0];
cx q[0], r[1];
measure q[0] -> a[0];
measure q[2] -> a[1];
measure r[1] -> b[0];
