/* The schema documents, built into the binary so that a server needs no files beside it.
 * schema_documents is a table of {name, start, end} pointers, ended by a zero row; the texts
 * are not NUL-terminated. A new document needs a line here (the Makefile rebuilds this object
 * when any of them changes). */

	.macro schema_document file
	.pushsection .rodata
.Lname\@:
	.asciz "\file"
.Lstart\@:
	.incbin "apiserver/schema/\file"
.Lend\@:
	.popsection
	.dc.a .Lname\@, .Lstart\@, .Lend\@
	.endm

	/* Pointers in a table need relocating in a position-independent executable, so the
	 * table lives in .data.rel.ro, which the loader makes read-only after relocation. */
	.section .data.rel.ro, "aw"
	.balign 8
	.globl schema_documents
	.type schema_documents, @object
schema_documents:
	schema_document meta.yaml
	schema_document core.yaml
	schema_document container.yaml
	schema_document volume.yaml
	schema_document pod.yaml
	schema_document service.yaml
	schema_document node.yaml
	schema_document coordination.yaml
	.dc.a 0, 0, 0
	.size schema_documents, . - schema_documents

	.section .note.GNU-stack, "", @progbits
