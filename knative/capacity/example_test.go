package capacity_test

import (
	"fmt"
	"os"

	"github.com/parley-chat/parley/knative/capacity"
)

// The sizing of issue 16's goal, as CAPACITY.md shows it.
func ExampleWriteTable() {
	var models []capacity.Model
	for _, f := range capacity.FanOuts {
		models = append(models, capacity.Measured(f))
	}
	if err := capacity.WriteTable(os.Stdout, models); err != nil {
		fmt.Println(err)
	}
}
