#pragma once
// 10x Genomics Cell Ranger outputs: the Matrix Market directory (v3: matrix.mtx.gz, features.tsv.gz,
// barcodes.tsv.gz; v2: matrix.mtx, genes.tsv, barcodes.tsv; gzipped or plain) and the HDF5 file
// filtered_feature_bc_matrix.h5 (v3 "matrix" group, or v2 one group per genome). As scanpy's
// read_10x_* do by default, gene symbols become var_names (made unique with -1, -2 ...), Ensembl
// ids go to var["gene_ids"], and only "Gene Expression" features are kept.
#include <string>

#include "marrow/data/anndata.hpp"

namespace marrow::io {

AnnData read_10x_mtx(const std::string& directory);
AnnData read_10x_h5(const std::string& path);

// Appends -1, -2, ... to repeated names, as anndata's var_names_make_unique does.
void make_names_unique(std::vector<std::string>& names);

}  // namespace marrow::io
