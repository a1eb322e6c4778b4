# The 3.0 suite's scripts that allocate GC objects or pass references
# through frames, run under CIS_GC_STRESS=1 on both engines.
set(CIS_GC_STRESS_SCRIPTS array array_copy array_fill array_init_data array_init_elem array_new_data
    array_new_elem struct i31 ref_cast ref_test ref_eq br_on_cast br_on_cast_fail extern
    type-subtyping local_init br_on_null br_on_non_null ref_as_non_null call_ref return_call_ref
    throw throw_ref tag)
