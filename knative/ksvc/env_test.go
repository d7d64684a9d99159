package ksvc

import (
	"strings"
	"testing"
	"time"
)

func TestEnvReadsValuesAndDefaults(t *testing.T) {
	vars := map[string]string{"S": "s", "D": "2s", "F": "1.5"}
	e := NewEnv(func(k string) string { return vars[k] })
	if e.String("S", "x") != "s" || e.String("UNSET", "x") != "x" || e.Required("S") != "s" ||
		e.Duration("D", time.Second, time.Second) != 2*time.Second || e.Duration("UNSET", time.Second, 0) != time.Second ||
		e.PositiveFloat("F", 0) != 1.5 || e.PositiveFloat("UNSET", 3) != 3 {
		t.Error("values or defaults misread")
	}
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestEnvNamesEveryBadVariable(t *testing.T) {
	vars := map[string]string{"D": "1s", "F": "x", "N": "-2", "Z": "0s"}
	e := NewEnv(func(k string) string { return vars[k] })
	e.Required("MISSING")
	e.Duration("D", 0, 5*time.Second)
	e.Duration("Z", 0, time.Nanosecond)
	e.PositiveFloat("F", 0)
	e.PositiveFloat("N", 0)
	err := e.Err()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"MISSING is required", `D="1s": want a duration of at least 5s`,
		`Z="0s": want a duration above zero`, `F="x": want a positive number`, `N="-2": want a positive number`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}
