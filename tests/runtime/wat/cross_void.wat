;; Imports a.inc as () -> (), the first type its engine interns: another
;; engine's first type is not this one.
(module
  (import "a" "inc" (func $f))
  (func (export "run") (call $f)))
