#pragma once
int ck_dnnl_placeholder(void);
