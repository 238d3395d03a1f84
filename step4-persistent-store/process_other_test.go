//go:build !linux

package main

import "os/exec"

// dieWithTest does nothing where there is no Pdeathsig: t.Cleanup's kill
// ends the child server, unless the test process itself is killed.
func dieWithTest(cmd *exec.Cmd) {}
