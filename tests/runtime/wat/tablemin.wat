;; Three tables whose declared minimums (1,000,000 elements each, 8 MB of
;; host memory each) fit the per-table element cap but not, together, a
;; 16 MiB memory account.
(module
  (table 1000000 funcref)
  (table 1000000 funcref)
  (table 1000000 externref))
