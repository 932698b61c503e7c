//go:build race

package lab_test

// raceEnabled: a race-instrumented binary cannot run under UML (ThreadSanitizer needs more address
// space than a UML process has), so it cannot be the UML init in TestRunExitCodeAndOutput.
const raceEnabled = true
