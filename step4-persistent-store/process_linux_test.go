package main

import (
	"os/exec"
	"syscall"
)

// dieWithTest has the kernel kill the child server when the test process
// dies (a timeout, a panic, ^C): t.Cleanup's kill does not run then, and a
// server left behind would hold its port and files. (Pdeathsig follows the
// thread that started the child, and the Go runtime keeps its threads.)
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
