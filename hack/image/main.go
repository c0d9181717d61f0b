package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "error:", err)
		}
		stop()
		os.Exit(1)
	}
}

// run parses args over the checkout's defaults, builds, and prints the result.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	o, err := DefaultOptions(ctx, wd)
	if err != nil {
		return err
	}
	if err := parseFlags(&o, args, stderr); err != nil {
		return err
	}
	res, err := Build(ctx, o)
	if err != nil {
		return err
	}
	printResult(stdout, res)
	return nil
}

func parseFlags(o *Options, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./hack/image [--out bin/gitsync-image.tar] [--tag REF]... [--goarch ARCH] [--version V] [--commit C]")
		fs.PrintDefaults()
	}
	var tags []string
	fs.StringVar(&o.Out, "out", o.Out, "the docker-save tarball to write")
	fs.Func("tag", "image name:tag inside the tarball, repeatable (default "+defaultTag+")", func(s string) error {
		tags = append(tags, s)
		return nil
	})
	fs.StringVar(&o.GOARCH, "goarch", o.GOARCH, "target architecture (linux only; default $GOARCH or amd64)")
	fs.StringVar(&o.Version, "version", o.Version, "version linked into the binary and labelled (default git describe --tags --always --dirty)")
	fs.StringVar(&o.Commit, "commit", o.Commit, "commit linked into the binary and labelled (default git rev-parse --short HEAD)")
	fs.StringVar(&o.CACerts, "ca-certs", o.CACerts, "CA bundle to copy into the image")
	fs.Func("created", "creation time as Unix seconds (default $SOURCE_DATE_EPOCH, else the commit time)", func(s string) error {
		secs, err := strconv.ParseInt(s, 10, 64)
		if err != nil || secs < 0 {
			return errors.New("want seconds since 1970")
		}
		o.Created = time.Unix(secs, 0).UTC()
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: every option is a flag (see --help)", fs.Arg(0))
	}
	if len(tags) > 0 {
		o.Tags = tags
	}
	if abs, err := filepath.Abs(o.Out); err == nil {
		o.Out = abs
	}
	return nil
}

func printResult(w io.Writer, r *Result) {
	rel := r.Out
	if wd, err := os.Getwd(); err == nil {
		if p, err := filepath.Rel(wd, r.Out); err == nil && filepath.IsLocal(p) {
			rel = p
		}
	}
	fmt.Fprintf(w, "wrote %s (%.1f MiB, docker-save tarball, %s)\n", rel, float64(r.Size)/(1<<20), r.Platform)
	for _, t := range r.Tags {
		fmt.Fprintf(w, "  tag     %s\n", t)
	}
	fmt.Fprintf(w, "  digest  %s (manifest)\n", r.Digest)
	fmt.Fprintf(w, "  id      %s (config, as docker load reports it)\n", r.ConfigDigest)
	fmt.Fprintf(w, "load it with: docker load -i %s   (or podman load -i %s)\n", rel, rel)
}
