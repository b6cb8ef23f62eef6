package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	out := flag.String("out", "", "directory to write the OCI image layout to (replaced)")
	busybox := flag.String("busybox", "/bin/busybox", "static busybox binary to package")
	tag := flag.String("tag", "latest", "tag recorded in index.json (org.opencontainers.image.ref.name)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "testimage: -out DIR is required")
		os.Exit(2)
	}
	if err := build(*out, *busybox, *tag); err != nil {
		fmt.Fprintln(os.Stderr, "testimage:", err)
		os.Exit(1)
	}
	fmt.Println(*out)
}
