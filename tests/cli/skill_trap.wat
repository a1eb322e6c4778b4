;; A WASI skill (abi "wasi") whose _start traps at once; it installs with
;; any mounts, since it never touches them.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (unreachable))
)
