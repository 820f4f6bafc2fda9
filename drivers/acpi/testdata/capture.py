#!/usr/bin/env python3
# Captures the memory that holds QEMU's ACPI tables, for the tests in ../.
# Usage: capture.py KERNEL OUTDIR   (KERNEL: any PVH image, e.g. testdata/hello
# built and passed through unigo-image). See README.md.
import gzip, json, os, socket, subprocess, sys, tempfile, time

kernel, outdir = sys.argv[1], sys.argv[2]
# machine -> regions (guest-physical base, size) to save
machines = {
    "microvm": [(0xE0000, 0x20000)],
    "q35": [(0xE0000, 0x20000), (0xFFE0000, 0x20000)],  # SeaBIOS puts tables at the top of 256M
}
tmp = tempfile.mkdtemp()
for machine, regions in machines.items():
    sock = os.path.join(tmp, machine + ".qmp")
    args = ["qemu-system-x86_64", "-M", machine, "-accel", "tcg", "-cpu", "max", "-m", "256M",
            "-smp", "4", "-nodefaults", "-no-user-config", "-display", "none",
            "-serial", "file:" + os.path.join(tmp, machine + ".serial"),
            "-no-reboot", "-no-shutdown", "-kernel", kernel,
            "-qmp", "unix:%s,server=on,wait=off" % sock, "-S"]
    print(" ".join(args))
    p = subprocess.Popen(args)
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    f = s.makefile("rw")

    def cmd(c, **a):
        f.write(json.dumps({"execute": c, "arguments": a}) + "\n")
        f.flush()
        while True:
            m = json.loads(f.readline())
            if "event" not in m:
                return m

    json.loads(f.readline())  # greeting
    cmd("qmp_capabilities")
    cmd("cont")
    time.sleep(3)  # firmware has installed the tables; the kernel has run (and halted)
    cmd("stop")
    for base, size in regions:
        raw = os.path.join(tmp, "%s-%x.bin" % (machine, base))
        print(cmd("pmemsave", val=base, size=size, filename=raw))
        with open(raw, "rb") as i, gzip.GzipFile(os.path.join(outdir, "%s-%x.bin.gz" % (machine, base)), "wb", mtime=0) as o:
            o.write(i.read())
    cmd("quit")
    p.wait()
