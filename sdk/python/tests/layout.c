/*
 * This file implements the layout probe of the Python SDK's tests: it
 * prints the size of every public structure that sdk/python/cis/_lib.py
 * mirrors with ctypes, and the offset of each field, as "struct.field N"
 * lines, so that a field added to a C header and not to the binding is a
 * failed test instead of memory corruption.
 */
#include <stddef.h>
#include <stdio.h>

#include "cis/cis.h"
#include "cis/cis_aot.h"
#include "cis/cis_skill.h"
#include "cis/cis_wasi.h"

#define S(t) printf(#t " %zu\n", sizeof(t))
#define F(t, f) printf(#t "." #f " %zu\n", offsetof(t, f))

int main(void) {
  S(cis_limits); F(cis_limits, max_call_depth); F(cis_limits, max_table_elems);
  S(cis_engine_config); F(cis_engine_config, engine); F(cis_engine_config, standard);
  S(cis_val); F(cis_val, of); F(cis_val, v128);
  S(cis_extern_desc); F(cis_extern_desc, params); F(cis_extern_desc, has_max); F(cis_extern_desc, addr64);
  S(cis_wasi_config); F(cis_wasi_config, stdio); F(cis_wasi_config, stdin_data);
  F(cis_wasi_config, max_fds);
  S(cis_skills_config); F(cis_skills_config, log_format); F(cis_skills_config, limits);
  F(cis_skills_config, max_limits); F(cis_skills_config, tenant);
  F(cis_skills_config, require_signature); F(cis_skills_config, engine);
  F(cis_skills_config, max_skills); F(cis_skills_config, max_fs_files);
  S(cis_install_options); F(cis_install_options, signature_len);
  S(cis_invoke_mount); F(cis_invoke_mount, read_only);
  S(cis_invoke_options); F(cis_invoke_options, allow_kv); F(cis_invoke_options, abi);
  F(cis_invoke_options, mounts); F(cis_invoke_options, export_name);
  F(cis_invoke_options, on_instance); F(cis_invoke_options, on_wait);
  F(cis_invoke_options, wait_after_us);
  S(cis_invoke_stats); F(cis_invoke_stats, ai_tokens); F(cis_invoke_stats, memory_peak);
  S(cis_invoke_result); F(cis_invoke_result, exit_code); F(cis_invoke_result, error);
  F(cis_invoke_result, stats); F(cis_invoke_result, results); F(cis_invoke_result, nresults);
  F(cis_invoke_result, stage);
  S(cis_skill_info); F(cis_skill_info, installed_at);
  S(cis_key_info); F(cis_key_info, added_at);
  S(cis_cache_entry); F(cis_cache_entry, bytes); F(cis_cache_entry, sound);
  return 0;
}
