#pragma once
// Local polynomial regression (LOESS, Cleveland 1979) of y on one predictor, evaluated directly at
// every point: the q = floor(span * n) nearest neighbours, tricube weights, weighted least squares
// of the given degree. Seurat v3 gene selection fits log variance on log mean with span 0.3 and
// degree 2. (scanpy calls skmisc's loess, whose default "interpolate" surface approximates this
// direct fit on a k-d tree; the fitted values agree to about 1e-3 relative.)
#include <vector>

namespace marrow::preprocess {

std::vector<double> loess_fit(const std::vector<double>& x, const std::vector<double>& y, double span = 0.3,
                              int degree = 2);

}  // namespace marrow::preprocess
