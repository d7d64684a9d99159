// Command fetchmodel installs a trained toxic-comment classifier for the
// moderation function (make model): a Hugging Face Hub repository pinned to
// one commit, every file checked (SHA-256 for the weights, the Git blob id
// for the rest), written to -out only once complete.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/parley-chat/parley/functions/moderation/internal/modelfetch"
)

func main() {
	out := flag.String("out", "", "model folder to install into (replaced when the download is complete and checked)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: fetchmodel -out DIR")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	src := modelfetch.ToxicMiniLM
	fmt.Printf("fetchmodel: installing %s into %s\n", src.Describe(), *out)
	if err := modelfetch.DefaultFetcher().Install(ctx, src, *out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("fetchmodel: done; it runs on onnxruntime (make onnxruntime), and make run uses it from now on\n")
}
