//go:build !linux

package main

import "os/exec"

// setPdeathsig: Linux only; elsewhere the engine's process-group kill has to do.
func setPdeathsig(*exec.Cmd) {}
