;; A trivial WASI command: _start returns at once and reads nothing. (The
;; local is not needed; a body with no parameters and no locals at all is
;; the validator's own case, tested there.)
(module (func (export "_start") (local i32)))
