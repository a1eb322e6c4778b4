;; The trivial module of bench/startup.sh: a WASI command whose _start
;; returns at once. Running it costs what start-up costs.
(module (func (export "_start")))
