;; A minimum of 2049 pages: one page more than a 128 MiB cap allows.
(module (memory 2049))
