# The R files tests/data/test_r_files.py reads, written by R 4.2.2 (Debian's r-base-core):
#   Rscript make_r_files.R   (in this folder)
# Values are a formula of the row and column, so the tests know them without R: counts[i, j] = 10 * i + j.
genes <- c("PSME1", "CISD1", "SPDEF", "IKZF1", "TP53", "EGFR", "MYC", "GAPDH")
samples <- paste0("S", 1:6)
counts <- outer(1:8, 1:6, function(i, j) 10L * i + j)
dimnames(counts) <- list(genes, samples)
storage.mode(counts) <- "integer"
saveRDS(counts, "counts.rds")                         # gzip, R's default
saveRDS(counts, "counts_xz.rds", compress = "xz")
saveRDS(counts, "counts_plain.rds", compress = FALSE)
saveRDS(counts, "counts_ascii.rds", ascii = TRUE)
saveRDS(t(counts) + 0.5, "samples_x_genes.rds")      # samples as rows, doubles
na <- as.data.frame(counts)
na[2, "S3"] <- NA                                     # an integer column holding NA
saveRDS(na, "counts_na.rds")
saveRDS(data.frame(gene = genes, counts, row.names = NULL), "gene_column.rds")
saveRDS(unname(counts), "no_names.rds")
coldata <- data.frame(condition = factor(rep(c("tumour", "normal"), 3)), batch = c(1, 1, 2, 2, 3, 3),
                      row.names = samples)
saveRDS(coldata, "coldata.rds")
saveRDS(coldata$condition, "condition.rds")           # a factor in sample order
save(counts, coldata, file = "workspace.RData")
tpm <- counts / 2
save(counts, tpm, file = "two_tables.RData")
setClass("SummarizedExperiment", representation(assays = "list"))
saveRDS(new("SummarizedExperiment", assays = list(counts = counts)), "summarized_experiment.rds")
saveRDS(structure(list(counts = counts, samples = coldata), class = "DGEList"), "dgelist.rds")
setClass("DESeqDataSet", representation(counts = "matrix"))
dds <- new("DESeqDataSet", counts = counts)
save(dds, file = "dds_workspace.RData")                # a workspace holding only an S4 object
# R's automatic row names (1..n) before numeric and text columns, as an array layout table has them
spots <- data.frame(Block = rep(1:2, each = 4), Row = rep(1:4, 2), Column = 1:8, ID = rep(c("ctl", "g1"), 4),
                    Name = rep(c("control", "gene"), 4))
saveRDS(spots, "spots.rds")
saveRDS(data.frame(sex = rep(c("Male", "Female"), 3), type = rep(c("Case", "Control"), each = 3),
                   score = c(0.1, 0.5, 0.9, 0.2, 0.4, 0.8), row.names = samples), "sample_table.rds")
con <- gzfile("counts_native.rds", "wb")              # R's native binary form (serialize(xdr = FALSE))
serialize(counts, con, xdr = FALSE)
close(con)
# a package index (Meta/Rd.rds): a list naming classes as text, no object of them
saveRDS(list(Name = c("ExpressionSet", "SummarizedExperiment"), Title = c("a class", "another")), "index.rds")
